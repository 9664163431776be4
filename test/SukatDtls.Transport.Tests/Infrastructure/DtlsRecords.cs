using System.Buffers.Binary;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// Raw DTLS 1.2 datagrams for tests that talk to the listener without a DTLS stack: record headers, a real
/// ClientHello (the first flight of a BouncyCastle client, captured), and HelloVerifyRequest parsing.
/// </summary>
/// <remarks>
/// Layout (RFC 6347): record header = type(1) version(2) epoch(2) sequence(6) length(2) = 13 bytes; handshake header =
/// msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3) = 12 bytes; ClientHello body =
/// client_version(2) random(32) session_id(1+n) cookie(1+n) cipher_suites(2+n) compression(1+n) extensions(2+n).
/// </remarks>
internal static class DtlsRecords
{
    public const int RecordHeaderLength = 13;
    public const int HandshakeHeaderLength = 12;
    public const int HandshakeBodyOffset = RecordHeaderLength + HandshakeHeaderLength;

    private static readonly Lazy<byte[]> s_clientHello = new(CaptureClientHello);

    /// <summary>The first datagram a BouncyCastle DTLS 1.2 client sends: a ClientHello record with an empty cookie.</summary>
    public static byte[] ClientHello => (byte[])s_clientHello.Value.Clone();

    /// <summary>A record header (DTLS 1.2 version unless given) followed by <paramref name="payload"/>.</summary>
    public static byte[] Record(byte contentType, ushort epoch, ulong sequence, ReadOnlySpan<byte> payload,
        int? declaredLength = null, ushort version = 0xFEFD)
    {
        var datagram = new byte[RecordHeaderLength + payload.Length];
        datagram[0] = contentType;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(1), version);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(3), epoch);
        WriteUInt48(datagram.AsSpan(5), sequence);
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(11), (ushort)(declaredLength ?? payload.Length));
        payload.CopyTo(datagram.AsSpan(RecordHeaderLength));
        return datagram;
    }

    /// <summary>A handshake message header (unfragmented unless told) followed by <paramref name="body"/>.</summary>
    public static byte[] HandshakeMessage(byte handshakeType, ushort messageSequence, ReadOnlySpan<byte> body,
        int? declaredLength = null, int fragmentOffset = 0, int? fragmentLength = null)
    {
        var message = new byte[HandshakeHeaderLength + body.Length];
        message[0] = handshakeType;
        WriteUInt24(message.AsSpan(1), declaredLength ?? body.Length);
        BinaryPrimitives.WriteUInt16BigEndian(message.AsSpan(4), messageSequence);
        WriteUInt24(message.AsSpan(6), fragmentOffset);
        WriteUInt24(message.AsSpan(9), fragmentLength ?? body.Length);
        body.CopyTo(message.AsSpan(HandshakeHeaderLength));
        return message;
    }

    /// <summary>The ClientHello body of a ClientHello datagram (no headers).</summary>
    public static byte[] ClientHelloBody(byte[] clientHello) => clientHello.AsSpan(HandshakeBodyOffset).ToArray();

    /// <summary>
    /// <paramref name="clientHello"/> with its cookie replaced by <paramref name="cookie"/> (message_seq 1, as the
    /// second ClientHello of a real client), lengths fixed up.
    /// </summary>
    public static byte[] WithCookie(byte[] clientHello, ReadOnlySpan<byte> cookie)
    {
        var body = ClientHelloBody(clientHello);
        int sessionIdEnd = 2 + 32 + 1 + body[2 + 32];
        int oldCookieEnd = sessionIdEnd + 1 + body[sessionIdEnd];
        var newBody = new byte[sessionIdEnd + 1 + cookie.Length + (body.Length - oldCookieEnd)];
        body.AsSpan(0, sessionIdEnd).CopyTo(newBody);
        newBody[sessionIdEnd] = (byte)cookie.Length;
        cookie.CopyTo(newBody.AsSpan(sessionIdEnd + 1));
        body.AsSpan(oldCookieEnd).CopyTo(newBody.AsSpan(sessionIdEnd + 1 + cookie.Length));
        return Record((byte)ContentType.handshake, 0, 1, HandshakeMessage((byte)HandshakeType.client_hello, 1, newBody));
    }

    /// <summary>
    /// A ClientHello datagram made to order (one DTLS 1.0 record holding the whole message): the fields the tests of
    /// the transport's own ClientHello readers vary. <paramref name="extensions"/> null: no extensions block at all.
    /// </summary>
    public static byte[] MakeClientHello(byte[] random, byte[] cookie, ushort[] suites, (ushort Type, byte[] Data)[]? extensions, byte[]? sessionId = null,
        ushort version = 0xFEFD, byte[]? compression = null, byte[]? trailing = null, ushort messageSequence = 0, ulong recordSequence = 0)
    {
        var body = new List<byte> { (byte)(version >> 8), (byte)version };
        body.AddRange(random);
        sessionId ??= [];
        body.Add((byte)sessionId.Length);
        body.AddRange(sessionId);
        body.Add((byte)cookie.Length);
        body.AddRange(cookie);
        body.AddRange([(byte)(suites.Length * 2 >> 8), (byte)(suites.Length * 2)]);
        foreach (ushort suite in suites)
        {
            body.AddRange([(byte)(suite >> 8), (byte)suite]);
        }

        compression ??= [0];
        body.Add((byte)compression.Length);
        body.AddRange(compression);
        if (extensions is not null)
        {
            var encoded = new List<byte>();
            foreach (var (type, data) in extensions)
            {
                encoded.AddRange([(byte)(type >> 8), (byte)type, (byte)(data.Length >> 8), (byte)data.Length]);
                encoded.AddRange(data);
            }

            body.AddRange([(byte)(encoded.Count >> 8), (byte)encoded.Count]);
            body.AddRange(encoded);
        }

        body.AddRange(trailing ?? []);
        return Record((byte)ContentType.handshake, 0, recordSequence, HandshakeMessage((byte)HandshakeType.client_hello, messageSequence, body.ToArray()),
            version: 0xFEFF);
    }

    /// <summary>
    /// Sets a ClientHello datagram's record length, message length and fragment fields to what it holds (after a test
    /// cut or changed it), so that only the body's own lengths are wrong; a datagram too short for both headers stays.
    /// </summary>
    public static void FixLengths(byte[] datagram)
    {
        if (datagram.Length < HandshakeBodyOffset)
        {
            return;
        }

        int fragment = datagram.Length - RecordHeaderLength;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(11), (ushort)fragment);
        int body = fragment - HandshakeHeaderLength;
        WriteUInt24(datagram.AsSpan(RecordHeaderLength + 1), body);
        WriteUInt24(datagram.AsSpan(RecordHeaderLength + 6), 0);
        WriteUInt24(datagram.AsSpan(RecordHeaderLength + 9), body);
    }

    /// <summary>Whether <paramref name="datagram"/> is a HelloVerifyRequest record; returns its cookie.</summary>
    public static bool TryReadHelloVerifyRequest(ReadOnlySpan<byte> datagram, out byte[] cookie)
    {
        cookie = [];
        const int CookieLengthOffset = HandshakeBodyOffset + 2; // after server_version
        if (datagram.Length <= CookieLengthOffset
            || datagram[0] != ContentType.handshake
            || datagram[13] != HandshakeType.hello_verify_request)
        {
            return false;
        }

        int length = datagram[CookieLengthOffset];
        if (datagram.Length < CookieLengthOffset + 1 + length)
        {
            return false;
        }

        cookie = datagram.Slice(CookieLengthOffset + 1, length).ToArray();
        return true;
    }

    private static void WriteUInt24(Span<byte> destination, int value)
    {
        destination[0] = (byte)(value >> 16);
        destination[1] = (byte)(value >> 8);
        destination[2] = (byte)value;
    }

    private static void WriteUInt48(Span<byte> destination, ulong value)
    {
        for (int i = 0; i < 6; i++)
        {
            destination[i] = (byte)(value >> (8 * (5 - i)));
        }
    }

    /// <summary>Runs a BouncyCastle DTLS 1.2 client against a transport that keeps its first datagram and then fails.</summary>
    private static byte[] CaptureClientHello()
    {
        var transport = new CapturingTransport();
        try
        {
            new DtlsClientProtocol().Connect(new CaptureClient(), transport);
        }
        catch (IOException) when (transport.Captured is not null)
        {
            // Expected: the transport ends the handshake right after the ClientHello.
        }

        var captured = transport.Captured ?? throw new InvalidOperationException("The BouncyCastle client sent no ClientHello.");
        if (captured.Length < HandshakeBodyOffset || captured[0] != ContentType.handshake || captured[13] != HandshakeType.client_hello)
        {
            throw new InvalidOperationException("The captured first datagram is not a ClientHello record.");
        }

        return captured;
    }

    private sealed class CaptureClient() : DefaultTlsClient(new BcTlsCrypto(new SecureRandom()))
    {
        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        protected override int[] GetSupportedCipherSuites() => TlsUtilities.GetSupportedCipherSuites(Crypto,
        [
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ]);

        public override TlsAuthentication GetAuthentication() =>
            throw new InvalidOperationException("The capture never gets as far as the server's certificate.");
    }

    private sealed class CapturingTransport : DatagramTransport
    {
        public byte[]? Captured { get; private set; }

        public int GetReceiveLimit() => 65_535;

        public int GetSendLimit() => 1_400;

        public int Receive(byte[] buf, int off, int len, int waitMillis) => -1;

        public int Receive(Span<byte> buffer, int waitMillis) => -1;

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer)
        {
            if (Captured is null)
            {
                Captured = buffer.ToArray();
                throw new IOException("Captured the first flight; no network here.");
            }

            // Later sends (the alert BouncyCastle sends while failing) go nowhere.
        }

        public void Close()
        {
        }
    }
}
