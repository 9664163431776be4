using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using Org.BouncyCastle.Math.EC.Rfc7748;
using Org.BouncyCastle.Security;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>What a <see cref="ScriptedDtlsClient"/> does differently from an honest client.</summary>
internal sealed record ScriptedClientOptions
{
    /// <summary>Flips one bit of the Finished's verify_data before it is encrypted (it still authenticates: a client that computes it wrongly).</summary>
    public bool CorruptFinished { get; init; }

    /// <summary>Sends 32 zero bytes as the X25519 public value (a small-order point: the shared secret would be all zeros).</summary>
    public bool InvalidKeyShare { get; init; }

    /// <summary>Sends the datagram with the Finished before the one with the ClientKeyExchange and ChangeCipherSpec.</summary>
    public bool FinishedFirst { get; init; }

    /// <summary>Sends the ClientKeyExchange as two fragments in two datagrams, its second half first.</summary>
    public bool FragmentKeyExchange { get; init; }

    /// <summary>Sends the ClientKeyExchange and ChangeCipherSpec but never the Finished (as if its record were lost).</summary>
    public bool OmitFinished { get; init; }

    /// <summary>
    /// Application data sent with the final flight, before the server's Finished came (its first record, epoch 1): in
    /// the Finished's datagram after it, or (<see cref="EarlyApplicationDataFirst"/>) alone before the whole flight.
    /// </summary>
    public byte[]? EarlyApplicationData { get; init; }

    /// <summary>Sends <see cref="EarlyApplicationData"/> in a datagram of its own before the ClientKeyExchange's.</summary>
    public bool EarlyApplicationDataFirst { get; init; }

    /// <summary>How long each receive waits: the client retransmits nothing, so a lost or ignored flight ends in a timeout.</summary>
    public TimeSpan ReceiveTimeout { get; init; } = TimeSpan.FromSeconds(5);
}

/// <summary>How a <see cref="ScriptedDtlsClient"/>'s handshake ended.</summary>
/// <param name="Completed">The server's Finished came and verified.</param>
/// <param name="AlertLevel">The level of the alert the server sent instead (epoch 0, in the clear), if it sent one.</param>
/// <param name="AlertDescription">The description of that alert.</param>
internal sealed record ScriptedHandshakeResult(bool Completed, byte? AlertLevel = null, byte? AlertDescription = null)
{
    /// <summary>Neither a Finished nor an alert came within the receive timeout.</summary>
    public bool TimedOut => !Completed && AlertDescription is null;
}

/// <summary>
/// A minimal DTLS 1.2 client whose every message is scripted, for the server's own handshake
/// (<c>EcdheServerHandshake</c>): one suite, TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256 with X25519 and the extended
/// master secret, over a real UDP socket on loopback. It does what no real client library lets a test do: compute a
/// wrong Finished on purpose, send an invalid key share, reorder or fragment its final flight
/// (<see cref="ScriptedClientOptions"/>).
/// </summary>
/// <remarks>
/// <para>
/// With RFC 7627 the keys depend on the whole transcript, so only a client that holds the right keys can produce a
/// Finished that authenticates but is wrong; that is why this client exists rather than a byte-flipping proxy.
/// </para>
/// <para>
/// It keeps its own transcript, X25519 (BouncyCastle's managed one) and AES-GCM record protection (.NET's
/// <see cref="AesGcm"/>) instead of the server's <c>HandshakeTranscript</c>, <c>OpenSslX25519</c> and
/// <c>RecordCipher</c>, so a mistake there cannot cancel out on both sides. The PRF is the library's
/// <see cref="Tls12Prf"/>, which has its own known-answer tests. It does not verify the server's certificate or the
/// ServerKeyExchange signature: the tests are about what the server does with the client's flight, and a wrong
/// signature would only show in a client that checks it. It retransmits nothing; every receive is bounded by
/// <see cref="ScriptedClientOptions.ReceiveTimeout"/>.
/// </para>
/// </remarks>
internal sealed class ScriptedDtlsClient : IDisposable
{
    /// <summary>TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256.</summary>
    public const ushort CipherSuite = 0xC02B;

    private const ushort Dtls12 = 0xFEFD;
    private const ushort X25519Group = 0x001D;
    private const int RandomLength = 32;
    private const int VerifyDataLength = 12;
    private const int KeyLength = 16;
    private const int ImplicitIvLength = 4;
    private const int ExplicitNonceLength = 8;
    private const int TagLength = 16;
    private const byte HelloVerifyRequest = 3;

    private readonly Socket _socket;
    private readonly ScriptedClientOptions _options;
    private readonly byte[] _clientRandom = RandomNumberGenerator.GetBytes(RandomLength);
    private readonly MemoryStream _transcript = new();
    private readonly byte[] _receiveBuffer = new byte[65_536];

    // The server's handshake messages by message_seq, put back together from their fragments.
    private readonly Dictionary<int, (byte Type, byte[] Body, bool[] Received)> _serverMessages = [];

    private long _epoch0Sequence;
    private long _epoch1Sequence;
    private byte[] _serverRandom = [];
    private byte[] _masterSecret = [];
    private AesGcm? _write;
    private AesGcm? _read;
    private byte[] _writeIv = [];
    private byte[] _readIv = [];

    private ScriptedDtlsClient(Socket socket, ScriptedClientOptions options)
    {
        _socket = socket;
        _options = options;
    }

    /// <summary>A client with its own socket on an ephemeral loopback port, connected to <paramref name="server"/>.</summary>
    public static ScriptedDtlsClient Create(IPEndPoint server, ScriptedClientOptions? options = null)
    {
        if (!IPAddress.IsLoopback(server.Address))
        {
            throw new ArgumentException($"The scripted client talks to loopback only, not to {server}.", nameof(server));
        }

        var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(server.AddressFamily == AddressFamily.InterNetworkV6 ? IPAddress.IPv6Loopback : IPAddress.Loopback, 0));

            // Connected: the server answers from its listening address and port (its peer socket shares them).
            socket.Connect(server);
        }
        catch
        {
            socket.Dispose();
            throw;
        }

        return new ScriptedDtlsClient(socket, options ?? new ScriptedClientOptions());
    }

    /// <summary>Runs the handshake as scripted, up to the server's Finished (verified), its alert, or a timeout.</summary>
    /// <exception cref="TimeoutException">The server did not answer a ClientHello in time.</exception>
    /// <exception cref="InvalidDataException">The server's flight is not what this client asked for.</exception>
    /// <summary>The ServerHello's random, once the server's flight came.</summary>
    public byte[] ServerRandom => _serverRandom;

    /// <summary>The ServerHello's session ID, once the server's flight came.</summary>
    public byte[] ServerSessionId { get; private set; } = [];

    /// <summary>The server's X25519 public value from its ServerKeyExchange, once the server's flight came.</summary>
    public byte[] ServerKeyShare { get; private set; } = [];

    public async Task<ScriptedHandshakeResult> HandshakeAsync()
    {
        // ClientHello without a cookie (message_seq 0, record 0), then with the server's (message_seq 1, record 1).
        await SendAsync([Plaintext(22, Handshake(1, 0, ClientHelloBody([])))]);
        byte[] cookie = await ReceiveCookieAsync();
        byte[] clientHello = Handshake(1, 1, ClientHelloBody(cookie));
        _transcript.Write(clientHello); // RFC 6347 §4.2.6: the transcript starts with the ClientHello that carries the cookie
        await SendAsync([Plaintext(22, clientHello)]);

        // ServerHello (1), Certificate (2), ServerKeyExchange (3), ServerHelloDone (4).
        if (await ReceiveServerFlightAsync() is { } refused)
        {
            return refused;
        }

        var serverHello = Message(1, 2);
        _serverRandom = serverHello.AsSpan(2, RandomLength).ToArray();
        int sessionIdLength = serverHello[2 + RandomLength];
        ServerSessionId = serverHello.AsSpan(2 + RandomLength + 1, sessionIdLength).ToArray();
        ushort suite = BinaryPrimitives.ReadUInt16BigEndian(serverHello.AsSpan(2 + RandomLength + 1 + sessionIdLength));
        if (suite != CipherSuite)
        {
            throw new InvalidDataException($"The server chose suite 0x{suite:X4}.");
        }

        _ = Message(2, 11);
        var serverKeyExchange = Message(3, 12);
        if (serverKeyExchange[0] != 3 || BinaryPrimitives.ReadUInt16BigEndian(serverKeyExchange.AsSpan(1)) != X25519Group || serverKeyExchange[3] != 32)
        {
            throw new InvalidDataException("The ServerKeyExchange is not an X25519 named-curve key.");
        }

        byte[] serverPublic = serverKeyExchange.AsSpan(4, 32).ToArray(); // the signature after it is not checked (see remarks)
        ServerKeyShare = serverPublic;
        _ = Message(4, 14);
        for (int sequence = 1; sequence <= 4; sequence++)
        {
            var (type, body, _) = _serverMessages[sequence];
            _transcript.Write(Handshake(type, sequence, body));
        }

        // Our key share and the premaster secret (RFC 8422 §5.7, RFC 7748).
        byte[] privateKey = new byte[X25519.ScalarSize];
        X25519.GeneratePrivateKey(new SecureRandom(), privateKey);
        byte[] publicKey = new byte[X25519.PointSize];
        X25519.GeneratePublicKey(privateKey, 0, publicKey, 0);
        byte[] premaster = new byte[X25519.PointSize];
        if (!X25519.CalculateAgreement(privateKey, 0, serverPublic, 0, premaster, 0))
        {
            throw new InvalidDataException("The server's X25519 public value is invalid.");
        }

        if (_options.InvalidKeyShare)
        {
            // The server must refuse it before it computes anything; our own keys no longer matter.
            Array.Clear(publicKey);
        }

        byte[] keyExchange = new byte[1 + publicKey.Length];
        keyExchange[0] = (byte)publicKey.Length;
        publicKey.CopyTo(keyExchange, 1);
        _transcript.Write(Handshake(16, 2, keyExchange));

        // RFC 7627 §4: the session hash is the transcript through the ClientKeyExchange.
        byte[] sessionHash = SHA256.HashData(_transcript.ToArray());
        _masterSecret = new byte[48];
        Tls12Prf.Compute(sha384: false, premaster, "extended master secret", sessionHash, _masterSecret);
        byte[] keyBlock = new byte[(2 * KeyLength) + (2 * ImplicitIvLength)];
        Tls12Prf.Compute(sha384: false, _masterSecret, "key expansion", [.. _serverRandom, .. _clientRandom], keyBlock);
        _write = new AesGcm(keyBlock.AsSpan(0, KeyLength), TagLength);
        _read = new AesGcm(keyBlock.AsSpan(KeyLength, KeyLength), TagLength);
        _writeIv = keyBlock.AsSpan(2 * KeyLength, ImplicitIvLength).ToArray();
        _readIv = keyBlock.AsSpan((2 * KeyLength) + ImplicitIvLength, ImplicitIvLength).ToArray();

        byte[] verifyData = new byte[VerifyDataLength];
        Tls12Prf.Compute(sha384: false, _masterSecret, "client finished", sessionHash, verifyData);
        if (_options.CorruptFinished)
        {
            verifyData[5] ^= 0x10;
        }

        byte[] finished = Handshake(20, 3, verifyData);
        _transcript.Write(finished);

        // Epoch 0 records in the order of the messages, whatever order the datagrams go in (a network may reorder them).
        byte[][] keyExchangeRecords = _options.FragmentKeyExchange
            ? [Plaintext(22, Fragment(16, 2, keyExchange, 0, keyExchange.Length / 2)),
                Plaintext(22, Fragment(16, 2, keyExchange, keyExchange.Length / 2, keyExchange.Length - (keyExchange.Length / 2)))]
            : [Plaintext(22, Handshake(16, 2, keyExchange))];
        byte[] changeCipherSpec = Plaintext(20, [1]);
        byte[] finishedRecord = Protected(22, finished);

        // Default: one datagram; fragmented: the second half alone, then the first with the rest.
        var datagrams = new List<byte[][]>();
        if (_options.FragmentKeyExchange)
        {
            datagrams.Add([keyExchangeRecords[1]]);
            datagrams.Add([keyExchangeRecords[0], changeCipherSpec]);
        }
        else
        {
            datagrams.Add([keyExchangeRecords[0], changeCipherSpec]);
        }

        // The Finished alone before the rest, or with the last of it; or nowhere, as if it were lost.
        if (_options.FinishedFirst && !_options.OmitFinished)
        {
            datagrams.Insert(0, [finishedRecord]);
        }
        else if (!_options.OmitFinished)
        {
            datagrams[^1] = [.. datagrams[^1], finishedRecord];
        }

        // Protected after the Finished (the next sequence number), whichever datagram it goes in.
        if (_options.EarlyApplicationData is { } early)
        {
            byte[] earlyRecord = Protected(23, early);
            if (_options.EarlyApplicationDataFirst)
            {
                datagrams.Insert(0, [earlyRecord]);
            }
            else
            {
                datagrams[^1] = [.. datagrams[^1], earlyRecord];
            }
        }

        foreach (var datagram in datagrams)
        {
            await SendAsync(datagram);
        }

        return await ReceiveServerFinishedAsync();
    }

    /// <summary>Sends application data in one record (epoch 1).</summary>
    public Task SendApplicationDataAsync(ReadOnlySpan<byte> data) => SendAsync([Protected(23, data)]);

    /// <summary>The content of the next application data record from the server (bounded by the receive timeout).</summary>
    /// <exception cref="TimeoutException">None came in time.</exception>
    public async Task<byte[]> ReceiveApplicationDataAsync()
    {
        using var timeout = new CancellationTokenSource(_options.ReceiveTimeout);
        while (true)
        {
            int length = await ReceiveAsync(timeout.Token) ?? throw new TimeoutException("No application data from the server.");
            foreach (var (type, epoch, sequence, fragment) in Records(_receiveBuffer.AsSpan(0, length)))
            {
                if (epoch == 1 && type == 23 && TryOpen(type, sequence, fragment, out byte[] content))
                {
                    return content;
                }
            }
        }
    }

    public void Dispose()
    {
        _socket.Dispose();
        _write?.Dispose();
        _read?.Dispose();
        _transcript.Dispose();
    }

    private byte[] ClientHelloBody(byte[] cookie)
    {
        byte[] extensions =
        [
            0x00, 0x17, 0x00, 0x00, // extended_master_secret
            0xFF, 0x01, 0x00, 0x01, 0x00, // renegotiation_info, empty renegotiated_connection
            0x00, 0x0B, 0x00, 0x02, 0x01, 0x00, // ec_point_formats: uncompressed
            0x00, 0x0A, 0x00, 0x04, 0x00, 0x02, 0x00, 0x1D, // supported_groups: x25519
            0x00, 0x0D, 0x00, 0x04, 0x00, 0x02, 0x04, 0x03, // signature_algorithms: ecdsa_secp256r1_sha256
        ];
        using var body = new MemoryStream();
        body.Write([0xFE, 0xFD]);
        body.Write(_clientRandom);
        body.WriteByte(0); // no session id
        body.WriteByte((byte)cookie.Length);
        body.Write(cookie);
        body.Write([0x00, 0x02, CipherSuite >> 8, CipherSuite & 0xFF]);
        body.Write([0x01, 0x00]); // null compression
        body.Write([(byte)(extensions.Length >> 8), (byte)extensions.Length]);
        body.Write(extensions);
        return body.ToArray();
    }

    private async Task<byte[]> ReceiveCookieAsync()
    {
        using var timeout = new CancellationTokenSource(_options.ReceiveTimeout);
        while (true)
        {
            int length = await ReceiveAsync(timeout.Token) ?? throw new TimeoutException("No HelloVerifyRequest from the server.");
            foreach (var (type, epoch, _, fragment) in Records(_receiveBuffer.AsSpan(0, length)))
            {
                if (type == 22 && epoch == 0 && DtlsHandshakeFragment.TryRead(fragment, out var message)
                    && message.MessageType == (DtlsHandshakeType)HelloVerifyRequest && message.IsWholeMessage)
                {
                    // server_version(2), cookie<0..255>
                    return message.Body.Slice(3, message.Body[2]).ToArray();
                }
            }
        }
    }

    /// <summary>Collects the server's flight (messages 1 to 4); returns the server's alert instead if it sent one.</summary>
    private async Task<ScriptedHandshakeResult?> ReceiveServerFlightAsync()
    {
        using var timeout = new CancellationTokenSource(_options.ReceiveTimeout);
        while (!Enumerable.Range(1, 4).All(IsComplete))
        {
            int length = await ReceiveAsync(timeout.Token) ?? throw new TimeoutException("The server's flight did not come.");
            foreach (var (type, epoch, _, fragment) in Records(_receiveBuffer.AsSpan(0, length)))
            {
                if (epoch != 0)
                {
                    continue;
                }

                if (type == 21 && fragment.Length == 2)
                {
                    return new ScriptedHandshakeResult(false, fragment[0], fragment[1]);
                }

                var fragments = fragment;
                while (type == 22 && DtlsHandshakeFragment.TryRead(fragments, out var part))
                {
                    fragments = fragments[part.TotalLength..];
                    AddServerFragment(part);
                }
            }
        }

        return null;
    }

    private void AddServerFragment(DtlsHandshakeFragment fragment)
    {
        int sequence = fragment.MessageSequence;
        if (sequence is < 1 or > 4)
        {
            return;
        }

        if (!_serverMessages.TryGetValue(sequence, out var message) || message.Body.Length != fragment.MessageLength)
        {
            message = ((byte)fragment.MessageType, new byte[fragment.MessageLength], new bool[fragment.MessageLength]);
            _serverMessages[sequence] = message;
        }

        fragment.Body.CopyTo(message.Body.AsSpan(fragment.FragmentOffset));
        message.Received.AsSpan(fragment.FragmentOffset, fragment.Body.Length).Fill(true);
    }

    private bool IsComplete(int sequence) => _serverMessages.TryGetValue(sequence, out var message) && !message.Received.AsSpan().Contains(false);

    private byte[] Message(int sequence, byte type)
    {
        var (actual, body, _) = _serverMessages[sequence];
        return actual == type ? body : throw new InvalidDataException($"Server message {sequence} is of type {actual}, not {type}.");
    }

    /// <summary>Waits for the server's ChangeCipherSpec and Finished (verified), or its alert.</summary>
    private async Task<ScriptedHandshakeResult> ReceiveServerFinishedAsync()
    {
        using var timeout = new CancellationTokenSource(_options.ReceiveTimeout);
        while (true)
        {
            if (await ReceiveAsync(timeout.Token) is not { } length)
            {
                return new ScriptedHandshakeResult(false);
            }

            foreach (var (type, epoch, sequence, fragment) in Records(_receiveBuffer.AsSpan(0, length)))
            {
                if (epoch == 0 && type == 21 && fragment.Length == 2)
                {
                    return new ScriptedHandshakeResult(false, fragment[0], fragment[1]);
                }

                // Epoch 0 otherwise: the ChangeCipherSpec (nothing to check) or a resent flight.
                if (epoch != 1 || type != 22 || !TryOpen(type, sequence, fragment, out byte[] content))
                {
                    continue;
                }

                if (!DtlsHandshakeFragment.TryRead(content, out var finished) || finished.MessageType != DtlsHandshakeType.Finished
                    || finished.MessageSequence != 5 || !finished.IsWholeMessage)
                {
                    throw new InvalidDataException("The server's first protected record is not its Finished.");
                }

                // The server's Finished covers ours too.
                byte[] expected = new byte[VerifyDataLength];
                Tls12Prf.Compute(sha384: false, _masterSecret, "server finished", SHA256.HashData(_transcript.ToArray()), expected);
                if (!finished.Body.SequenceEqual(expected))
                {
                    throw new InvalidDataException("The server's Finished does not verify.");
                }

                return new ScriptedHandshakeResult(true);
            }
        }
    }

    /// <summary>A whole handshake message: 12-byte header (one fragment) and body.</summary>
    private static byte[] Handshake(byte type, int messageSequence, ReadOnlySpan<byte> body) =>
        DtlsRecords.HandshakeMessage(type, (ushort)messageSequence, body);

    /// <summary>One fragment of a handshake message (RFC 6347 §4.2.2).</summary>
    private static byte[] Fragment(byte type, int messageSequence, ReadOnlySpan<byte> body, int offset, int length) =>
        DtlsRecords.HandshakeMessage(type, (ushort)messageSequence, body.Slice(offset, length), declaredLength: body.Length, fragmentOffset: offset);

    private byte[] Plaintext(byte type, ReadOnlySpan<byte> content) => DtlsRecords.Record(type, epoch: 0, (ulong)_epoch0Sequence++, content);

    /// <summary>An epoch-1 record (RFC 5288 §3, RFC 6347 §4.1.2.1): explicit nonce = epoch and sequence, the additional data the plaintext's header.</summary>
    private byte[] Protected(byte type, ReadOnlySpan<byte> content)
    {
        long epochAndSequence = (1L << 48) | _epoch1Sequence++;
        byte[] record = new byte[13 + ExplicitNonceLength + content.Length + TagLength];
        WriteHeader(record, type, epochAndSequence, record.Length - 13);
        var explicitNonce = record.AsSpan(13, ExplicitNonceLength);
        BinaryPrimitives.WriteInt64BigEndian(explicitNonce, epochAndSequence);
        _write!.Encrypt([.. _writeIv, .. explicitNonce], content, record.AsSpan(13 + ExplicitNonceLength, content.Length),
            record.AsSpan(record.Length - TagLength), AdditionalData(type, epochAndSequence, content.Length));
        return record;
    }

    private bool TryOpen(byte type, long epochAndSequence, ReadOnlySpan<byte> fragment, out byte[] content)
    {
        content = [];
        if (fragment.Length < ExplicitNonceLength + TagLength)
        {
            return false;
        }

        content = new byte[fragment.Length - ExplicitNonceLength - TagLength];
        try
        {
            _read!.Decrypt([.. _readIv, .. fragment[..ExplicitNonceLength]], fragment.Slice(ExplicitNonceLength, content.Length),
                fragment[^TagLength..], content, AdditionalData(type, epochAndSequence, content.Length));
            return true;
        }
        catch (AuthenticationTagMismatchException)
        {
            return false;
        }
    }

    /// <summary>seq_num (epoch and sequence), type, version, plaintext length (RFC 5246 §6.2.3.3).</summary>
    private static byte[] AdditionalData(byte type, long epochAndSequence, int length)
    {
        byte[] additionalData = new byte[13];
        BinaryPrimitives.WriteInt64BigEndian(additionalData, epochAndSequence);
        additionalData[8] = type;
        BinaryPrimitives.WriteUInt16BigEndian(additionalData.AsSpan(9), Dtls12);
        BinaryPrimitives.WriteUInt16BigEndian(additionalData.AsSpan(11), (ushort)length);
        return additionalData;
    }

    private static void WriteHeader(Span<byte> record, byte type, long epochAndSequence, int length)
    {
        record[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(record[1..], Dtls12);
        BinaryPrimitives.WriteInt64BigEndian(record[3..], epochAndSequence);
        BinaryPrimitives.WriteUInt16BigEndian(record[11..], (ushort)length);
    }

    /// <summary>The records of a datagram: type, epoch, epoch and sequence (the nonce's and additional data's), fragment.</summary>
    private static List<(byte Type, int Epoch, long EpochAndSequence, byte[] Fragment)> Records(ReadOnlySpan<byte> datagram)
    {
        var records = new List<(byte, int, long, byte[])>();
        while (DtlsRecord.TryRead(datagram, out var record))
        {
            records.Add(((byte)record.ContentType, record.Epoch, record.EpochAndSequence, record.Fragment.ToArray()));
            datagram = datagram[record.Whole.Length..];
        }

        return records;
    }

    private async Task SendAsync(byte[][] records)
    {
        byte[] datagram = [.. records.SelectMany(r => r)];
        await _socket.SendAsync(datagram, SocketFlags.None);
    }

    /// <summary>The next datagram's length, or null when the timeout ran out first.</summary>
    private async Task<int?> ReceiveAsync(CancellationToken timeout)
    {
        try
        {
            return await _socket.ReceiveAsync(_receiveBuffer, SocketFlags.None, timeout);
        }
        catch (OperationCanceledException) when (timeout.IsCancellationRequested)
        {
            return null;
        }
    }
}
