using System.Buffers.Binary;
using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The record layer of established connections, suite by suite, without sockets: records sealed by one side open on
/// the other (and by the platform's ciphers open with BouncyCastle's, and back), with and without Connection IDs;
/// every kind of bad record is dropped and named; the replay window moves only for authenticated records; sequence
/// numbers go on from the handshake; the final flight is resent a bounded number of times and no more once data came.
/// </summary>
public sealed class DtlsRecordLayerTests
{
    public static TheoryData<int, bool> Suites => new()
    {
        { CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false },
        { CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, false },
        { CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false },
        { CipherSuite.TLS_PSK_WITH_AES_128_CCM, false },
        { CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, false },
        { CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM, false },
        { CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, false },
        { CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, true },
        { CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, false },
        { CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, true },
        { CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, false },
    };

    /// <summary>Our side and the peer's, from one key block: what one seals the other opens.</summary>
    private static (DtlsRecordLayer Server, DtlsRecordLayer Client) Pair(int suite, bool encryptThenMac, byte[]? serverCid = null, byte[]? clientCid = null,
        bool serverBouncyCastle = false, long nextSequence = 1, byte[][]? serverFinalFlight = null)
    {
        var protection = RecordSuite.Of(suite)!;
        byte[] keyBlock = RandomNumberGenerator.GetBytes(protection.KeyBlockLength);
        serverCid ??= [];
        clientCid ??= [];

        // The server reads the client's records (which carry the server's CID) and writes with the client's CID.
        var server = new DtlsRecordLayer(
            protection.CreateCipher(keyBlock, client: true, encryptThenMac, serverCid, serverBouncyCastle),
            protection.CreateCipher(keyBlock, client: false, encryptThenMac, clientCid, serverBouncyCastle),
            nextSequence, serverFinalFlight);
        var client = new DtlsRecordLayer(
            protection.CreateCipher(keyBlock, client: false, encryptThenMac, clientCid),
            protection.CreateCipher(keyBlock, client: true, encryptThenMac, serverCid),
            nextSequence, finalFlight: null);
        return (server, client);
    }

    private static byte[] Seal(DtlsRecordLayer layer, ReadOnlySpan<byte> plaintext, DtlsContentType type = DtlsContentType.ApplicationData)
    {
        var buffer = new byte[layer.SealedLength(plaintext.Length)];
        int length = layer.Seal(type, plaintext, buffer);
        Assert.Equal(buffer.Length, length);
        return buffer;
    }

    private static (RecordReadKind Kind, byte[] Plaintext) Open(DtlsRecordLayer layer, byte[] datagram)
    {
        int offset = 0;
        var kind = layer.ReadNext(datagram, ref offset, out int plaintextOffset, out int plaintextLength);
        return (kind, datagram.AsSpan(plaintextOffset, plaintextLength).ToArray());
    }

    [Theory]
    [MemberData(nameof(Suites))]
    public void Records_sealed_by_one_side_open_on_the_other_both_ways(int suite, bool encryptThenMac)
    {
        var (server, client) = Pair(suite, encryptThenMac);
        foreach (int length in new[] { 0, 1, 15, 16, 17, 1000, 1_200 })
        {
            byte[] data = RandomNumberGenerator.GetBytes(length);
            var (kind, opened) = Open(server, Seal(client, data));
            Assert.Equal(length == 0 ? RecordReadKind.ApplicationData : RecordReadKind.ApplicationData, kind);
            Assert.Equal(data, opened);
            (kind, opened) = Open(client, Seal(server, data));
            Assert.Equal(RecordReadKind.ApplicationData, kind);
            Assert.Equal(data, opened);
        }
    }

    [Theory]
    [MemberData(nameof(Suites))]
    public void With_connection_ids_records_are_tls12_cid_and_still_open(int suite, bool encryptThenMac)
    {
        byte[] serverCid = [1, 2, 3, 4, 5, 6, 7, 8], clientCid = [9, 9];
        var (server, client) = Pair(suite, encryptThenMac, serverCid, clientCid);
        byte[] data = RandomNumberGenerator.GetBytes(100);
        byte[] record = Seal(client, data);
        Assert.Equal((byte)DtlsContentType.Tls12Cid, record[0]);
        Assert.Equal(serverCid, record[11..19]);
        var (kind, opened) = Open(server, record);
        Assert.Equal(RecordReadKind.ApplicationData, kind);
        Assert.Equal(data, opened);

        record = Seal(server, data);
        Assert.Equal(clientCid, record[11..13]);
        AssertOpens(client, record, data);

        // A record with another CID, or none, is not theirs.
        byte[] other = Seal(client, data);
        other[11] ^= 0xFF;
        Assert.Equal(RecordReadKind.Malformed, Open(server, other).Kind);
        var (plainServer, plainClient) = Pair(suite, encryptThenMac);
        Assert.Equal(RecordReadKind.Malformed, Open(server, Seal(plainClient, data)).Kind);
        GC.KeepAlive(plainServer);
    }

    [Theory]
    [InlineData(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)]
    [InlineData(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)]
    [InlineData(CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256)]
    [InlineData(CipherSuite.TLS_PSK_WITH_AES_128_CCM)]
    [InlineData(CipherSuite.TLS_PSK_WITH_AES_128_CCM_8)]
    public void The_platform_ciphers_and_BouncyCastles_agree_byte_for_byte(int suite)
    {
        // Same key block, one side on the platform's AEAD, the other on BouncyCastle's: a second implementation.
        var protection = RecordSuite.Of(suite)!;
        byte[] keyBlock = RandomNumberGenerator.GetBytes(protection.KeyBlockLength);
        using var platform = new DtlsRecordLayer(protection.CreateCipher(keyBlock, true, false, []), protection.CreateCipher(keyBlock, false, false, []), 5, null);
        using var bouncyCastle = new DtlsRecordLayer(protection.CreateCipher(keyBlock, true, false, [], bouncyCastle: true),
            protection.CreateCipher(keyBlock, false, false, [], bouncyCastle: true), 5, null);
        using var peer = new DtlsRecordLayer(protection.CreateCipher(keyBlock, false, false, []), protection.CreateCipher(keyBlock, true, false, []), 5, null);

        byte[] data = RandomNumberGenerator.GetBytes(777);
        Assert.Equal(Seal(platform, data), Seal(bouncyCastle, data)); // same sequence number 5, same bytes
        AssertOpens(bouncyCastle, Seal(peer, data), data);
        AssertOpens(peer, Seal(bouncyCastle, data), data);
    }

    [Theory]
    [MemberData(nameof(Suites))]
    public void Every_bad_record_is_dropped_and_named_and_the_layer_goes_on(int suite, bool encryptThenMac)
    {
        var (server, client) = Pair(suite, encryptThenMac);
        byte[] data = RandomNumberGenerator.GetBytes(64);

        byte[] flipped = Seal(client, data);
        flipped[^1] ^= 1; // tag or MAC
        Assert.Equal(RecordReadKind.Forged, Open(server, flipped).Kind);

        byte[] empty = Seal(client, []);
        empty[^1] ^= 1; // an empty record's tag is checked too
        Assert.Equal(RecordReadKind.Forged, Open(server, empty).Kind);

        byte[] body = Seal(client, data);
        body[DtlsRecord.HeaderLength + 20] ^= 0x80; // ciphertext
        Assert.Equal(RecordReadKind.Forged, Open(server, body).Kind);

        byte[] sequence = Seal(client, data);
        sequence[10] ^= 1; // the sequence number is authenticated
        Assert.Equal(RecordReadKind.Forged, Open(server, sequence).Kind);

        byte[] type = Seal(client, data);
        type[0] = (byte)DtlsContentType.Handshake; // so is the type
        Assert.Equal(RecordReadKind.Forged, Open(server, type).Kind);

        byte[] truncated = Seal(client, data)[..^3]; // the length field now lies
        Assert.Equal(RecordReadKind.Malformed, Open(server, truncated).Kind);

        byte[] shortFragment = DtlsRecordsRecord(DtlsContentType.ApplicationData, 1, 99, new byte[5]);
        Assert.Equal(RecordReadKind.Forged, Open(server, shortFragment).Kind);

        Assert.Equal(RecordReadKind.Plaintext, Open(server, DtlsRecordsRecord(DtlsContentType.Handshake, 0, 7, new byte[40])).Kind);
        Assert.Equal(RecordReadKind.Malformed, Open(server, DtlsRecordsRecord(DtlsContentType.ApplicationData, 2, 7, new byte[40])).Kind);

        byte[] version = Seal(client, data);
        version[2] = 0xFF; // DTLS 1.0
        Assert.Equal(RecordReadKind.Malformed, Open(server, version).Kind);

        byte[] good = Seal(client, data);
        byte[] replay = (byte[])good.Clone();
        AssertOpens(server, good, data);
        Assert.Equal(RecordReadKind.Replay, Open(server, replay).Kind);

        // Still works.
        AssertOpens(server, Seal(client, data), data);
    }

    [Fact]
    public void A_forged_record_with_a_high_sequence_number_does_not_move_the_window()
    {
        var (server, client) = Pair(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false, nextSequence: 1);
        byte[] first = Seal(client, [1]);
        byte[] forged = DtlsRecordsRecord(DtlsContentType.ApplicationData, 1, 1_000_000, RandomNumberGenerator.GetBytes(40));
        Assert.Equal(RecordReadKind.Forged, Open(server, forged).Kind);

        // Had the forgery moved the window, sequence 1 would now be "far behind".
        AssertOpens(server, first, new byte[] { 1 });
    }

    [Fact]
    public void Several_records_in_one_datagram_are_read_in_turn()
    {
        var (server, client) = Pair(CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, false);
        byte[] datagram = [.. Seal(client, [1, 2]), .. Seal(client, [3]), .. Seal(client, [1, 0], DtlsContentType.Alert)];
        int offset = 0;
        Assert.Equal(RecordReadKind.ApplicationData, server.ReadNext(datagram, ref offset, out int at, out int length));
        Assert.Equal(new byte[] { 1, 2 }, datagram[at..(at + length)]);
        Assert.Equal(RecordReadKind.ApplicationData, server.ReadNext(datagram, ref offset, out at, out length));
        Assert.Equal(new byte[] { 3 }, datagram[at..(at + length)]);
        Assert.Equal(RecordReadKind.Alert, server.ReadNext(datagram, ref offset, out at, out length));
        Assert.Equal(new byte[] { 1, 0 }, datagram[at..(at + length)]);
        Assert.Equal(RecordReadKind.End, server.ReadNext(datagram, ref offset, out _, out _));
    }

    [Fact]
    public void Sequence_numbers_go_on_from_the_handshake_and_records_fit_the_datagram_limit()
    {
        var (server, client) = Pair(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false, nextSequence: 3);
        byte[] record = Seal(server, [1]);
        Assert.Equal(DtlsRecordLayer.Epoch, BinaryPrimitives.ReadUInt16BigEndian(record.AsSpan(3)));
        Assert.Equal(3, BigEndian.ReadUInt48(record.AsSpan(5)));
        Assert.Equal(4, server.NextWriteSequence);

        foreach (int limit in new[] { 256, 576, 1232, 1500 })
        {
            int max = server.MaxPlaintext(limit);
            Assert.Equal(limit, server.SealedLength(max));
            Assert.True(server.SealedLength(max + 1) > limit);
        }

        Assert.Equal(DtlsRecordLayer.MaxPlaintextLength, server.MaxPlaintext(65_000));
        GC.KeepAlive(client);
    }

    [Fact]
    public void The_final_flight_is_resent_at_most_eight_times_and_never_after_application_data()
    {
        byte[][] flight = [[1, 2, 3]];
        var (server, client) = Pair(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false, serverFinalFlight: flight);
        Assert.True(server.HoldsFinalFlight);

        // The client's retransmitted Finished (an epoch-1 handshake record) asks for it.
        Assert.Equal(RecordReadKind.PeerRetransmittedFlight, Open(server, Seal(client, new byte[12], DtlsContentType.Handshake)).Kind);
        for (int i = 0; i < DtlsRecordLayer.MaxFinalFlightResends; i++)
        {
            Assert.Same(flight, server.TakeFinalFlight());
        }

        Assert.Null(server.TakeFinalFlight());
        Assert.Equal(RecordReadKind.Unexpected, Open(server, Seal(client, new byte[12], DtlsContentType.Handshake)).Kind);

        var (other, otherClient) = Pair(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, false, serverFinalFlight: flight);
        Assert.Equal(RecordReadKind.ApplicationData, Open(other, Seal(otherClient, [7])).Kind);
        Assert.False(other.HoldsFinalFlight);
        Assert.Null(other.TakeFinalFlight());
    }

    [Theory]
    [MemberData(nameof(Suites))]
    public void Sealing_and_opening_allocate_nothing(int suite, bool encryptThenMac)
    {
        var (server, client) = Pair(suite, encryptThenMac);
        byte[] data = RandomNumberGenerator.GetBytes(1000);
        byte[] buffer = new byte[2048];
        for (int i = 0; i < 100; i++)
        {
            RoundTrip();
        }

        // Steady state: windows of 1,000 round trips until one allocates nothing, at most five. On a loaded machine the
        // first window can still run code that tiered compilation has not replaced yet (a .NET CI run once counted
        // 6,128 bytes in it); an allocation per record shows in every window.
        long allocated = 0;
        for (int window = 0; window < 5; window++)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 1000; i++)
            {
                RoundTrip();
            }

            allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (allocated == 0)
            {
                break;
            }
        }

        Assert.Equal(0, allocated);

        void RoundTrip()
        {
            int length = client.Seal(DtlsContentType.ApplicationData, data, buffer);
            int offset = 0;
            if (server.ReadNext(buffer.AsSpan(0, length), ref offset, out _, out _) != RecordReadKind.ApplicationData)
            {
                throw new InvalidOperationException("the record did not open");
            }
        }
    }

    private static void AssertOpens(DtlsRecordLayer layer, byte[] record, byte[] expected)
    {
        var (kind, opened) = Open(layer, record);
        Assert.Equal(RecordReadKind.ApplicationData, kind);
        Assert.Equal(expected, opened);
    }

    private static byte[] DtlsRecordsRecord(DtlsContentType type, ushort epoch, ulong sequence, byte[] payload) =>
        Infrastructure.DtlsRecords.Record((byte)type, epoch, sequence, payload);
}
