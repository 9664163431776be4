using System.Buffers.Binary;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The first ClientHello is answered without BouncyCastle (<see cref="FirstClientHelloAnswer"/>), but exactly as its
/// <see cref="DtlsVerifier"/> would answer it: the same HelloVerifyRequest, byte for byte (so the cookie the client
/// returns passes BouncyCastle's check), and none where BouncyCastle would send none. Checked against BouncyCastle
/// itself, with the same key, over valid and damaged ClientHellos.
/// </summary>
public sealed class FirstClientHelloAnswerTests
{
    private static readonly byte[] s_clientId = [2, 0, 0x13, 0x88, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0];

    [Fact]
    public void A_first_ClientHello_gets_BouncyCastle_s_HelloVerifyRequest_byte_for_byte_and_its_cookie_passes_BouncyCastle_s_check()
    {
        var key = CookieKey.Random();
        byte[] first = ClientHello(cookie: [], extensions: [(23, []), (10, [0, 2, 0, 0x1D]), (0xFF01, [0])]);

        Assert.Equal(FirstClientHelloOutcome.Answered, Answer(key, first, out byte[] ours));
        Assert.Equal(BouncyCastleAnswer(key, first), ours);

        // The client returns the cookie: BouncyCastle's verifier accepts it and makes the handshake's request.
        byte[] cookie = ours[^32..];
        byte[] second = ClientHello(cookie, extensions: [(23, []), (10, [0, 2, 0, 0x1D]), (0xFF01, [0])], messageSequence: 1);
        Assert.NotNull(key.Verifier.VerifyRequest(s_clientId, second, 0, second.Length, new Capture()));
        Assert.Equal(FirstClientHelloOutcome.HasCookie, Answer(key, second, out _));
    }

    [Fact]
    public void The_cookie_binds_the_client_s_address_and_the_key()
    {
        byte[] hello = ClientHello(cookie: [], extensions: []);
        var key = CookieKey.Random();
        Answer(key, hello, out byte[] a);
        Answer(CookieKey.Random(), hello, out byte[] b);
        Assert.NotEqual(a[^32..], b[^32..]);

        byte[] otherClient = (byte[])s_clientId.Clone();
        otherClient[^9] ^= 1;
        byte[] c = new byte[FirstClientHelloAnswer.MaxLength];
        FirstClientHelloAnswer.TryAnswer(hello, otherClient, key.Key, new byte[20_000], c, out int length);
        Assert.NotEqual(a[^32..], c[(length - 32)..length]);
    }

    [Fact]
    public void A_ClientHello_without_null_compression_gets_no_answer_as_from_BouncyCastle()
    {
        var key = CookieKey.Random();
        byte[] hello = ClientHello(cookie: [], extensions: []);
        hello[^1] = 1; // the one compression method: deflate, not null
        Assert.Null(BouncyCastleAnswer(key, hello));
        Assert.Equal(FirstClientHelloOutcome.Malformed, Answer(key, hello, out _));
    }

    // Bounded: a fixed seed and count. ClientHellos without a cookie with random extensions, then damaged (bytes changed,
    // cut, lengths made to agree or not): wherever BouncyCastle answers, ours is the same datagram; where it does not,
    // ours is not either.
    [Fact]
    public void Over_damaged_ClientHellos_we_answer_exactly_where_BouncyCastle_answers()
    {
        var random = new Random(23);
        var key = CookieKey.Random();
        int answered = 0;
        for (int i = 0; i < 5_000; i++)
        {
            var extensions = Enumerable.Range(0, random.Next(0, 6))
                .Select(_ => ((ushort)random.Next(0, 60), Enumerable.Range(0, random.Next(0, 6)).Select(_ => (byte)random.Next(256)).ToArray()))
                .ToArray();
            byte[] hello = ClientHello(cookie: [], extensions, sessionId: new byte[random.Next(0, 33)]);
            if (random.Next(3) > 0)
            {
                hello = hello[..random.Next(DtlsRecord.HeaderLength, hello.Length + 1)];
                for (int changes = random.Next(0, 3); changes > 0 && hello.Length > DtlsRecord.HeaderLength; changes--)
                {
                    hello[random.Next(DtlsRecord.HeaderLength, hello.Length)] = (byte)random.Next(256);
                }

                if (random.Next(2) == 0)
                {
                    FixLengths(hello);
                }
            }

            byte[]? bouncyCastle = BouncyCastleAnswer(key, hello);
            var outcome = Answer(key, hello, out byte[] ours);
            if (outcome == FirstClientHelloOutcome.HasCookie)
            {
                continue; // a changed byte made a cookie: BouncyCastle's to check, not ours to answer
            }

            Assert.True(bouncyCastle is null == (outcome == FirstClientHelloOutcome.Malformed), $"case {i}: ours {outcome}, BouncyCastle {(bouncyCastle is null ? "none" : "answered")}");
            if (bouncyCastle is not null)
            {
                Assert.Equal(bouncyCastle, ours);
                answered++;
            }
        }

        Assert.InRange(answered, 500, 4_999);
    }

    private static FirstClientHelloOutcome Answer(CookieKey key, byte[] datagram, out byte[] answer)
    {
        byte[] buffer = new byte[FirstClientHelloAnswer.MaxLength];
        var outcome = FirstClientHelloAnswer.TryAnswer(datagram, s_clientId, key.Key, new byte[20_000], buffer, out int length);
        answer = buffer[..length];
        return outcome;
    }

    private static byte[]? BouncyCastleAnswer(CookieKey key, byte[] datagram)
    {
        var capture = new Capture();
        try
        {
            Assert.Null(key.Verifier.VerifyRequest(s_clientId, datagram, 0, datagram.Length, capture));
        }
        catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or InvalidOperationException)
        {
            return null; // the listener's gate treats these as no answer too
        }

        return capture.Sent;
    }

    private static void FixLengths(byte[] datagram)
    {
        if (datagram.Length < DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength)
        {
            return;
        }

        int fragment = datagram.Length - DtlsRecord.HeaderLength;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(11), (ushort)fragment);
        int body = fragment - DtlsHandshakeFragment.HeaderLength;
        BigEndian.WriteUInt24(datagram.AsSpan(DtlsRecord.HeaderLength + 1), body);
        BigEndian.WriteUInt24(datagram.AsSpan(DtlsRecord.HeaderLength + 6), 0);
        BigEndian.WriteUInt24(datagram.AsSpan(DtlsRecord.HeaderLength + 9), body);
    }

    private static byte[] ClientHello(byte[] cookie, (ushort Type, byte[] Data)[] extensions, byte[]? sessionId = null, int messageSequence = 0)
    {
        var body = new List<byte> { 0xFE, 0xFD };
        body.AddRange(Enumerable.Range(0, 32).Select(i => (byte)(i * 7)));
        sessionId ??= [];
        body.Add((byte)sessionId.Length);
        body.AddRange(sessionId);
        body.Add((byte)cookie.Length);
        body.AddRange(cookie);
        body.AddRange([0, 4, 0xC0, 0x2B, 0xC0, 0x2F, 1, 0]);
        var encoded = new List<byte>();
        foreach (var (type, data) in extensions)
        {
            encoded.AddRange([(byte)(type >> 8), (byte)type, (byte)(data.Length >> 8), (byte)data.Length]);
            encoded.AddRange(data);
        }

        if (extensions.Length > 0)
        {
            body.AddRange([(byte)(encoded.Count >> 8), (byte)encoded.Count]);
            body.AddRange(encoded);
        }

        byte[] datagram = new byte[DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + body.Count];
        datagram[0] = (byte)DtlsContentType.Handshake;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(1), 0xFEFF);
        BigEndian.WriteUInt48(datagram.AsSpan(5), 9 + messageSequence);
        datagram[DtlsRecord.HeaderLength] = (byte)DtlsHandshakeType.ClientHello;
        BinaryPrimitives.WriteUInt16BigEndian(datagram.AsSpan(DtlsRecord.HeaderLength + 4), (ushort)messageSequence);
        body.CopyTo(datagram, DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength);
        FixLengths(datagram);
        return datagram;
    }

    private sealed class Capture : DatagramSender
    {
        public byte[]? Sent { get; private set; }

        public int GetSendLimit() => 1500;

        public void Send(byte[] buf, int off, int len) => Sent = buf.AsSpan(off, len).ToArray();

        public void Send(ReadOnlySpan<byte> buffer) => Sent = buffer.ToArray();
    }
}
