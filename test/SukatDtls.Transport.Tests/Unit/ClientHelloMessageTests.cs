using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Internal.Ecdhe;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The server's own handshake reads the verified ClientHello itself (<see cref="ClientHelloMessage"/>): what it reads,
/// what it leaves to BouncyCastle, and that no input makes it throw.
/// </summary>
public sealed class ClientHelloMessageTests
{
    private static readonly byte[] s_random = Enumerable.Range(0, 32).Select(i => (byte)i).ToArray();

    private static readonly (ushort Type, byte[] Data)[] s_usualExtensions =
    [
        (23, []), // extended_master_secret
        (0xFF01, [0]), // renegotiation_info, initial
        (11, [1, 0]), // ec_point_formats: uncompressed
        (10, [0, 4, 0, 0x1D, 0, 0x17]), // supported_groups: x25519, secp256r1
        (13, [0, 2, 4, 3]), // signature_algorithms: ecdsa_secp256r1_sha256
        (35, []), // session_ticket: left unanswered
    ];

    [Fact]
    public void A_usual_ClientHello_is_read_with_everything_the_handshake_needs()
    {
        byte[] datagram = Datagram(s_usualExtensions, sessionId: [7, 7, 7], suites: [0xC02B, 0x00FF], messageSequence: 1, recordSequence: 5);

        Assert.True(ClientHelloMessage.TryRead(datagram, out var hello));
        Assert.NotNull(hello);
        Assert.False(hello.NeedsBouncyCastle);
        Assert.True(hello.OffersExtendedMasterSecret);
        Assert.True(hello.OffersSecureRenegotiation);
        Assert.True(hello.SentPointFormats);
        Assert.Equal([0x1D, 0x17], hello.SupportedGroups!);
        Assert.Equal([0x0403], hello.SignatureAlgorithms!);
        Assert.Equal([0xC02B, 0x00FF], hello.CipherSuites);
        Assert.Equal([7, 7, 7], hello.SessionId.ToArray());
        Assert.Equal(1, hello.MessageSequence);
        Assert.Equal(5, hello.RecordSequence);
        Assert.Equal(Enumerable.Range(0, 32).Select(i => (byte)i), hello.Random.ToArray());

        // The transcript's copy: the whole message, header included, as it came.
        Assert.Equal(datagram.AsSpan(DtlsRecord.HeaderLength).ToArray(), hello.Message.ToArray());
    }

    public static TheoryData<string, ushort, byte[]> WhatOnlyBouncyCastleAnswers => new()
    {
        { "connection_id", 54, [0] },
        { "max_fragment_length", 1, [2] },
        { "record_size_limit", 28, [0x40, 0] },
        { "client_certificate_type", 19, [1, 2] },
        { "server_certificate_type", 20, [1, 2] },
        { "a renegotiation", 0xFF01, [1, 9] },
        { "no uncompressed points", 11, [1, 1] },
        { "extended_master_secret with data", 23, [0] },
    };

    [Theory]
    [MemberData(nameof(WhatOnlyBouncyCastleAnswers))]
    public void A_ClientHello_asking_for_what_only_BouncyCastle_answers_is_left_to_it(string what, ushort type, byte[] data)
    {
        var extensions = s_usualExtensions.Where(e => e.Type != type).Append((type, data)).ToArray();
        Assert.True(ClientHelloMessage.TryRead(Datagram(extensions), out var hello), what);
        Assert.True(hello!.NeedsBouncyCastle, what);
    }

    [Fact]
    public void A_repeated_extension_is_left_to_BouncyCastle()
    {
        Assert.True(ClientHelloMessage.TryRead(Datagram([.. s_usualExtensions, (23, [])]), out var hello));
        Assert.True(hello!.NeedsBouncyCastle);
    }

    [Fact]
    public void Another_version_or_no_null_compression_is_left_to_BouncyCastle()
    {
        Assert.True(ClientHelloMessage.TryRead(Datagram(s_usualExtensions, version: 0xFEFF), out var dtls10));
        Assert.True(dtls10!.NeedsBouncyCastle);
        Assert.True(ClientHelloMessage.TryRead(Datagram(s_usualExtensions, compression: [1]), out var deflate));
        Assert.True(deflate!.NeedsBouncyCastle);
    }

    [Fact]
    public void Without_the_extended_master_secret_the_client_is_read_as_not_offering_it()
    {
        Assert.True(ClientHelloMessage.TryRead(Datagram(s_usualExtensions.Where(e => e.Type != 23).ToArray()), out var hello));
        Assert.False(hello!.OffersExtendedMasterSecret);
    }

    [Fact]
    public void Lengths_that_do_not_add_up_are_refused()
    {
        byte[] valid = Datagram(s_usualExtensions);

        // A body one byte longer than its extensions say (trailing garbage), then one byte shorter (cut extensions).
        byte[] longer = Datagram(s_usualExtensions, trailing: [0]);
        Assert.False(ClientHelloMessage.TryRead(longer, out _));
        byte[] cut = valid[..^1];
        DtlsRecords.FixLengths(cut);
        Assert.False(ClientHelloMessage.TryRead(cut, out _));

        // A fragment, not the whole message.
        byte[] fragment = (byte[])valid.Clone();
        BigEndian.WriteUInt24(fragment.AsSpan(DtlsRecord.HeaderLength + 1), BigEndian.ReadUInt24(fragment.AsSpan(DtlsRecord.HeaderLength + 1)) + 1);
        Assert.False(ClientHelloMessage.TryRead(fragment, out _));
    }

    // Bounded: a fixed seed and count. Each input is a valid ClientHello with random bytes changed and a random cut,
    // its record and handshake lengths made to agree (so the body's own lengths are what is tested).
    [Fact]
    public void No_damaged_ClientHello_makes_the_reader_throw()
    {
        var random = new Random(17);
        byte[] valid = Datagram(s_usualExtensions, sessionId: [1, 2, 3]);
        int read = 0;
        for (int i = 0; i < 20_000; i++)
        {
            byte[] damaged = valid[..random.Next(DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + 1, valid.Length + 1)];
            for (int changes = random.Next(1, 4); changes > 0; changes--)
            {
                int at = random.Next(DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength, damaged.Length);
                damaged[at] = (byte)random.Next(256);
            }

            DtlsRecords.FixLengths(damaged);
            if (ClientHelloMessage.TryRead(damaged, out var hello))
            {
                read++;
                Assert.NotNull(hello);
                Assert.Equal(32, hello.Random.Length);
                Assert.InRange(hello.SessionId.Length, 0, 32);
            }
        }

        // Some damage hits only values (a suite, a group), not the framing: those still read.
        Assert.InRange(read, 1, 19_999);
    }

    private static byte[] Datagram((ushort Type, byte[] Data)[] extensions, byte[]? sessionId = null, ushort[]? suites = null, int messageSequence = 1,
        long recordSequence = 1, ushort version = 0xFEFD, byte[]? compression = null, byte[]? trailing = null) =>
        DtlsRecords.MakeClientHello(s_random, cookie: [1, 2, 3, 4], suites ?? [0xC02B], extensions, sessionId, version, compression, trailing,
            (ushort)messageSequence, (ulong)recordSequence);
}
