using System.Buffers.Binary;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The first ClientHello is answered without BouncyCastle (<see cref="ClientHelloCookie"/>), but exactly as its
/// <see cref="DtlsVerifier"/> would answer it: the same HelloVerifyRequest, byte for byte (so the cookie the client
/// returns passes BouncyCastle's check), and none where BouncyCastle would send none. Checked against BouncyCastle
/// itself, with the same key, over valid and damaged ClientHellos.
/// </summary>
public sealed class ClientHelloCookieTests
{
    private static readonly byte[] s_random = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();

    private static readonly byte[] s_clientId = [2, 0, 0x13, 0x88, 192, 0, 2, 1, 0, 0, 0, 0, 0, 0, 0, 0];

    [Fact]
    public void A_first_ClientHello_gets_BouncyCastle_s_HelloVerifyRequest_byte_for_byte_and_its_cookie_passes_BouncyCastle_s_check()
    {
        var key = CookieKey.Random();
        byte[] first = ClientHello(cookie: [], extensions: [(23, []), (10, [0, 2, 0, 0x1D]), (0xFF01, [0])]);

        Assert.Equal(ClientHelloCookieOutcome.Answered, Answer(key, first, out byte[] ours));
        Assert.Equal(BouncyCastleAnswer(key, first), ours);

        // The client returns the cookie: BouncyCastle's verifier accepts it and makes the handshake's request.
        byte[] cookie = ours[^32..];
        byte[] second = ClientHello(cookie, extensions: [(23, []), (10, [0, 2, 0, 0x1D]), (0xFF01, [0])], messageSequence: 1);
        Assert.NotNull(key.Verifier.VerifyRequest(s_clientId, second, 0, second.Length, new Capture()));
        Assert.Equal(ClientHelloCookieOutcome.Verified, Answer(key, second, out _));

        // After a rotation the cookie is the previous key's, still accepted; two rotations on, it is answered anew.
        var next = CookieKey.Random();
        Assert.Equal(ClientHelloCookieOutcome.VerifiedByPreviousKey, Answer(next, second, out _, previous: key));
        Assert.Equal(ClientHelloCookieOutcome.Answered, Answer(CookieKey.Random(), second, out byte[] anew, previous: next));
        Assert.Equal(32, anew[^33]);
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
        byte[] c = new byte[ClientHelloCookie.MaxLength];
        ClientHelloCookie.TryAnswer(hello, otherClient, key.Key, default, new byte[20_000], c, out int length);
        Assert.NotEqual(a[^32..], c[(length - 32)..length]);
    }

    [Fact]
    public void A_ClientHello_without_null_compression_gets_no_answer_as_from_BouncyCastle()
    {
        var key = CookieKey.Random();
        byte[] hello = ClientHello(cookie: [], extensions: []);
        hello[^1] = 1; // the one compression method: deflate, not null
        Assert.Null(BouncyCastleAnswer(key, hello));
        Assert.Equal(ClientHelloCookieOutcome.Malformed, Answer(key, hello, out _));
    }

    [Fact]
    public void A_record_holding_more_than_its_ClientHello_gets_no_answer_as_from_BouncyCastle()
    {
        var key = CookieKey.Random();
        byte[] hello = [.. ClientHello(cookie: [], extensions: []), 0];
        BinaryPrimitives.WriteUInt16BigEndian(hello.AsSpan(11), (ushort)(hello.Length - DtlsRecord.HeaderLength)); // the record covers the extra byte
        Assert.Null(BouncyCastleAnswer(key, hello));
        Assert.Equal(ClientHelloCookieOutcome.Malformed, Answer(key, hello, out _));
    }

    // Bounded: a fixed seed and count. ClientHellos with random extensions — without a cookie, with the right one, with a
    // wrong one — then damaged (bytes changed, cut, lengths made to agree or not): ours verifies exactly where
    // BouncyCastle's verifier makes a request, answers with the same datagram exactly where it answers, and is silent
    // where it is.
    [Fact]
    public void Over_damaged_ClientHellos_we_answer_exactly_where_BouncyCastle_answers()
    {
        var random = new Random(23);
        var key = CookieKey.Random();
        int answered = 0;
        int verified = 0;
        for (int i = 0; i < 5_000; i++)
        {
            var extensions = Enumerable.Range(0, random.Next(0, 6))
                .Select(_ => ((ushort)random.Next(0, 60), Enumerable.Range(0, random.Next(0, 6)).Select(_ => (byte)random.Next(256)).ToArray()))
                .ToArray();
            byte[] sessionId = new byte[random.Next(0, 33)];
            byte[] hello = ClientHello(cookie: [], extensions, sessionId);
            int kind = random.Next(3);
            if (kind > 0)
            {
                // The right cookie (as our HelloVerifyRequest gives it), or a wrong one.
                byte[] cookie = Answer(key, hello, out byte[] helloVerifyRequest) == ClientHelloCookieOutcome.Answered
                    ? helloVerifyRequest[^32..]
                    : new byte[32]; // a ClientHello neither answers (a repeated extension): any cookie
                if (kind == 2)
                {
                    cookie[^1] ^= 1;
                }

                hello = ClientHello(cookie, extensions, sessionId, messageSequence: 1);
            }

            if (random.Next(3) > 0)
            {
                hello = hello[..random.Next(DtlsRecord.HeaderLength, hello.Length + 1)];
                for (int changes = random.Next(0, 3); changes > 0 && hello.Length > DtlsRecord.HeaderLength; changes--)
                {
                    hello[random.Next(DtlsRecord.HeaderLength, hello.Length)] = (byte)random.Next(256);
                }

                if (random.Next(2) == 0)
                {
                    DtlsRecords.FixLengths(hello);
                }
            }

            var (request, bouncyCastle) = BouncyCastleOutcome(key, hello);
            var outcome = Answer(key, hello, out byte[] ours);
            string what = $"case {i}: ours {outcome}, BouncyCastle {(request ? "request" : bouncyCastle is null ? "none" : "answered")}";
            Assert.True(request == (outcome == ClientHelloCookieOutcome.Verified), what);
            Assert.True(bouncyCastle is not null == (outcome == ClientHelloCookieOutcome.Answered), what);
            if (bouncyCastle is not null)
            {
                Assert.Equal(bouncyCastle, ours);
                answered++;
            }

            verified += request ? 1 : 0;
        }

        Assert.InRange(answered, 500, 4_999);
        Assert.InRange(verified, 300, 4_999);
    }

    private static ClientHelloCookieOutcome Answer(CookieKey key, byte[] datagram, out byte[] answer, CookieKey? previous = null)
    {
        byte[] buffer = new byte[ClientHelloCookie.MaxLength];
        var outcome = ClientHelloCookie.TryAnswer(datagram, s_clientId, key.Key, previous?.Key, new byte[20_000], buffer, out int length);
        answer = buffer[..length];
        return outcome;
    }

    private static byte[]? BouncyCastleAnswer(CookieKey key, byte[] datagram) => BouncyCastleOutcome(key, datagram).Answer;

    /// <summary>What BouncyCastle's verifier does: makes a request, or sends a HelloVerifyRequest (its bytes), or neither.</summary>
    private static (bool Request, byte[]? Answer) BouncyCastleOutcome(CookieKey key, byte[] datagram)
    {
        var capture = new Capture();
        try
        {
            bool request = key.Verifier.VerifyRequest(s_clientId, datagram, 0, datagram.Length, capture) is not null;
            return (request, capture.Sent);
        }
        catch (Exception ex) when (ex is ArgumentException or IndexOutOfRangeException or InvalidOperationException)
        {
            return (false, null); // the listener's gate treated these as no answer too
        }
    }

    private static byte[] ClientHello(byte[] cookie, (ushort Type, byte[] Data)[] extensions, byte[]? sessionId = null, int messageSequence = 0) =>
        DtlsRecords.MakeClientHello(s_random, cookie, [0xC02B, 0xC02F], extensions.Length > 0 ? extensions : null, sessionId,
            messageSequence: (ushort)messageSequence, recordSequence: (ulong)(9 + messageSequence));

    private sealed class Capture : DatagramSender
    {
        public byte[]? Sent { get; private set; }

        public int GetSendLimit() => 1500;

        public void Send(byte[] buf, int off, int len) => Sent = buf.AsSpan(off, len).ToArray();

        public void Send(ReadOnlySpan<byte> buffer) => Sent = buffer.ToArray();
    }
}
