using System.Collections.Concurrent;
using System.Net;
using Microsoft.Extensions.Time.Testing;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The HelloVerifyRequest cookie exchange with a rotating key, against a real BouncyCastle DTLS 1.2 client: its first
/// ClientHello gets a HelloVerifyRequest, its second (built by the client itself from that HelloVerifyRequest) passes;
/// a cookie lives through one key rotation but not two, and is bound to the client's address and to its bytes.
/// </summary>
public sealed class CookieVerifierTests : IDisposable
{
    private const byte HandshakeRecord = 22;
    private const byte HelloVerifyRequest = 3;
    private const int HandshakeBodyOffset = 13 + 12;

    private static readonly TimeSpan s_rotationInterval = TimeSpan.FromMinutes(1);
    private static readonly byte[] s_clientA = AddressBytes("192.0.2.1", 5000);
    private static readonly byte[] s_clientB = AddressBytes("192.0.2.2", 5000);

    private readonly FakeTimeProvider _time = new();
    private readonly CookieVerifier _verifier;
    private readonly BouncyCastleClient _client = new();
    private int _rotations;

    public CookieVerifierTests()
    {
        _verifier = new CookieVerifier(_time, s_rotationInterval, () => _rotations++);
    }

    public void Dispose()
    {
        _verifier.Dispose();
        _client.Dispose();
    }

    [Fact]
    public void A_client_hello_without_a_cookie_gets_a_hello_verify_request()
    {
        var first = _client.NextSent();
        Assert.Empty(Cookie(first));

        var request = Verify(s_clientA, first, out var helloVerifyRequest);

        Assert.Null(request);
        Assert.NotNull(helloVerifyRequest);
        Assert.Equal(HandshakeRecord, helloVerifyRequest[0]);
        Assert.Equal(HelloVerifyRequest, helloVerifyRequest[13]);
        Assert.NotEmpty(HelloVerifyRequestCookie(helloVerifyRequest));
    }

    // Every spoofed ClientHello of a flood takes this path: it must cost no garbage.
    [Fact]
    public void A_client_hello_without_a_cookie_is_answered_without_allocating()
    {
        var first = _client.NextSent();
        var sender = new CountingSender();
        _verifier.Verify(s_clientA, first, first.Length, sender, out _); // warm: first calls allocate what the runtime caches

        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 100; i++)
        {
            Assert.Null(_verifier.Verify(s_clientA, first, first.Length, sender, out bool sent));
            Assert.True(sent);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Equal(101, sender.Count);
    }

    [Fact]
    public void The_client_hello_answering_the_hello_verify_request_is_accepted_without_another()
    {
        var second = CookieClientHello();

        var request = Verify(s_clientA, second, out var helloVerifyRequest);

        Assert.NotNull(request);
        Assert.Null(helloVerifyRequest);
    }

    [Fact]
    public void The_client_returns_the_cookie_in_its_second_client_hello()
    {
        var first = _client.NextSent();
        Assert.Null(Verify(s_clientA, first, out var helloVerifyRequest));
        _client.Deliver(helloVerifyRequest!);

        var second = _client.NextSent(datagram => Cookie(datagram).Length > 0);

        Assert.Equal(HelloVerifyRequestCookie(helloVerifyRequest!), Cookie(second));
        Assert.Equal(1, (second[13 + 4] << 8) | second[13 + 5]); // message_seq
        Assert.True(RecordSequence(second) > RecordSequence(first));
    }

    [Fact]
    public void After_one_rotation_a_cookie_of_the_previous_key_is_still_accepted()
    {
        var second = CookieClientHello();

        _time.Advance(s_rotationInterval);
        Assert.Equal(1, _rotations);

        Assert.NotNull(Verify(s_clientA, second, out var helloVerifyRequest));
        Assert.Null(helloVerifyRequest);
    }

    [Fact]
    public void After_two_rotations_the_cookie_is_refused_with_a_new_hello_verify_request()
    {
        var second = CookieClientHello();

        _time.Advance(s_rotationInterval);
        _time.Advance(s_rotationInterval);
        Assert.Equal(2, _rotations);

        Assert.Null(Verify(s_clientA, second, out var helloVerifyRequest));
        Assert.NotNull(helloVerifyRequest);
        Assert.Equal(HelloVerifyRequest, helloVerifyRequest[13]);
        Assert.NotEqual(Cookie(second), HelloVerifyRequestCookie(helloVerifyRequest));
    }

    [Fact]
    public void Before_the_rotation_interval_the_key_does_not_change()
    {
        var second = CookieClientHello();

        _time.Advance(s_rotationInterval - TimeSpan.FromSeconds(1));
        Assert.Equal(0, _rotations);

        // Re-issuing for the first ClientHello gives the same cookie: still the same key.
        var first = WithoutCookie(second);
        Assert.Null(Verify(s_clientA, first, out var helloVerifyRequest));
        Assert.Equal(Cookie(second), HelloVerifyRequestCookie(helloVerifyRequest!));
    }

    [Fact]
    public void After_a_rotation_the_hello_verify_request_carries_the_current_key_cookie()
    {
        var second = CookieClientHello();

        _time.Advance(s_rotationInterval);

        // The previous key would still accept it, but a new cookie is made with the current one.
        Assert.Null(Verify(s_clientA, WithoutCookie(second), out var helloVerifyRequest));
        Assert.NotEqual(Cookie(second), HelloVerifyRequestCookie(helloVerifyRequest!));
    }

    [Fact]
    public void A_cookie_made_for_another_address_is_refused()
    {
        var second = CookieClientHello();

        Assert.Null(Verify(s_clientB, second, out var helloVerifyRequest));
        Assert.NotNull(helloVerifyRequest);
        Assert.Equal(HelloVerifyRequest, helloVerifyRequest[13]);

        // Still good for the address it was made for.
        Assert.NotNull(Verify(s_clientA, second, out _));
    }

    [Fact]
    public void A_forged_cookie_is_refused()
    {
        var second = CookieClientHello();
        var forged = (byte[])second.Clone();
        forged[CookieOffset(forged)] ^= 0x01;

        Assert.Null(Verify(s_clientA, forged, out var helloVerifyRequest));
        Assert.NotNull(helloVerifyRequest);
    }

    [Fact]
    public void A_cookie_from_another_client_hello_is_refused()
    {
        // Same cookie, one byte of the random changed: the cookie covers the ClientHello, not only the address.
        var second = CookieClientHello();
        var altered = (byte[])second.Clone();
        altered[HandshakeBodyOffset + 2] ^= 0x01;

        Assert.Null(Verify(s_clientA, altered, out var helloVerifyRequest));
        Assert.NotNull(helloVerifyRequest);
    }

    [Fact]
    public void Garbage_gets_neither_a_request_nor_a_hello_verify_request()
    {
        var garbage = new byte[200];
        new Random(1).NextBytes(garbage);

        Assert.Null(Verify(s_clientA, garbage, out var helloVerifyRequest));
        Assert.Null(helloVerifyRequest);
    }

    [Fact]
    public void A_truncated_client_hello_gets_neither_a_request_nor_a_hello_verify_request()
    {
        var first = _client.NextSent();

        Assert.Null(Verify(s_clientA, first[..(first.Length / 2)], out var helloVerifyRequest));
        Assert.Null(helloVerifyRequest);
    }

    [Fact]
    public void A_client_hello_with_a_malformed_body_gets_neither_a_request_nor_a_hello_verify_request()
    {
        // Record and handshake headers intact; the session id length runs past the body.
        var first = _client.NextSent();
        first[HandshakeBodyOffset + 34] = 0xFF;

        Assert.Null(Verify(s_clientA, first, out var helloVerifyRequest));
        Assert.Null(helloVerifyRequest);
    }

    [Fact]
    public void With_a_shared_secret_a_cookie_made_by_one_node_is_accepted_by_another()
    {
        using var nodeA = SharedSecretVerifier(s_secret);
        using var nodeB = SharedSecretVerifier(s_secret);

        var second = CookieClientHello(nodeA);

        Assert.NotNull(Verify(nodeB, s_clientA, second, out var helloVerifyRequest));
        Assert.Null(helloVerifyRequest);
    }

    [Fact]
    public void Without_a_shared_secret_another_node_refuses_the_cookie()
    {
        using var nodeB = new CookieVerifier(_time, s_rotationInterval);

        var second = CookieClientHello(_verifier);

        Assert.Null(Verify(nodeB, s_clientA, second, out var helloVerifyRequest));
        Assert.NotNull(helloVerifyRequest);
    }

    [Fact]
    public void Nodes_with_different_secrets_refuse_each_others_cookies()
    {
        using var nodeA = SharedSecretVerifier(s_secret);
        using var nodeB = SharedSecretVerifier([.. s_secret[..^1], (byte)(s_secret[^1] ^ 1)]);

        var second = CookieClientHello(nodeA);

        Assert.Null(Verify(nodeB, s_clientA, second, out _));
    }

    [Fact]
    public void Nodes_with_a_shared_secret_rotate_in_step_and_accept_the_previous_period()
    {
        // Both nodes read the same clock; they were started at different moments and have no timers.
        _time.Advance(TimeSpan.FromSeconds(7));
        using var nodeA = SharedSecretVerifier(s_secret);
        _time.Advance(TimeSpan.FromSeconds(20));
        using var nodeB = SharedSecretVerifier(s_secret);
        var second = CookieClientHello(nodeA);

        _time.Advance(s_rotationInterval);
        Assert.NotNull(Verify(nodeB, s_clientA, second, out _));
        Assert.NotNull(Verify(nodeA, s_clientA, second, out _));

        _time.Advance(s_rotationInterval);
        Assert.Null(Verify(nodeB, s_clientA, second, out var fromB));
        Assert.Null(Verify(nodeA, s_clientA, second, out var fromA));

        // Rotated in step: both send the same cookie for the same ClientHello.
        Assert.Equal(HelloVerifyRequestCookie(fromA!), HelloVerifyRequestCookie(fromB!));
    }

    private static readonly byte[] s_secret = Convert.FromHexString("00112233445566778899aabbccddeeff0123456789abcdef");

    private CookieVerifier SharedSecretVerifier(byte[] secret) =>
        new(_time, s_rotationInterval, sharedSecret: secret);

    /// <summary>Runs the client through the cookie exchange; returns its second ClientHello, with the cookie for client A.</summary>
    private byte[] CookieClientHello(CookieVerifier? verifier = null)
    {
        var first = _client.NextSent();
        Assert.Null(Verify(verifier ?? _verifier, s_clientA, first, out var helloVerifyRequest));
        Assert.NotNull(helloVerifyRequest);
        _client.Deliver(helloVerifyRequest);
        return _client.NextSent(datagram => Cookie(datagram).Length > 0);
    }

    private DtlsRequest? Verify(byte[] clientId, byte[] datagram, out byte[]? helloVerifyRequest) =>
        Verify(_verifier, clientId, datagram, out helloVerifyRequest);

    private static DtlsRequest? Verify(CookieVerifier verifier, byte[] clientId, byte[] datagram, out byte[]? helloVerifyRequest)
    {
        var sender = new CapturingSender();
        // A verified ClientHello must also make BouncyCastle's request (its verifier, same key, agrees with ours).
        var request = verifier.Verify(clientId, datagram, datagram.Length, sender, out bool sent)?.CreateRequest();
        Assert.Equal(sent, sender.Sent.Count > 0);
        Assert.True(sender.Sent.Count <= 1);
        helloVerifyRequest = sender.Sent.Count > 0 ? sender.Sent[0] : null;
        return request;
    }

    private static byte[] AddressBytes(string address, int port)
    {
        var socketAddress = new IPEndPoint(IPAddress.Parse(address), port).Serialize();
        return socketAddress.Buffer.Span[..socketAddress.Size].ToArray();
    }

    private static long RecordSequence(byte[] datagram)
    {
        long sequence = 0;
        for (int i = 5; i < 11; i++)
        {
            sequence = (sequence << 8) | datagram[i];
        }

        return sequence;
    }

    /// <summary>Where the cookie's first byte is in a ClientHello datagram (body: client_version, random, session_id, cookie, ...).</summary>
    private static int CookieOffset(byte[] clientHello)
    {
        int sessionIdLength = clientHello[HandshakeBodyOffset + 34];
        return HandshakeBodyOffset + 34 + 1 + sessionIdLength + 1;
    }

    private static byte[] Cookie(byte[] clientHello)
    {
        int offset = CookieOffset(clientHello);
        return clientHello.AsSpan(offset, clientHello[offset - 1]).ToArray();
    }

    /// <summary>The ClientHello with its cookie taken out and the three lengths fixed (what the client sent first, bar the sequence numbers).</summary>
    private static byte[] WithoutCookie(byte[] clientHello)
    {
        int offset = CookieOffset(clientHello);
        int cookieLength = clientHello[offset - 1];
        byte[] result = [.. clientHello.AsSpan(0, offset), .. clientHello.AsSpan(offset + cookieLength)];
        result[offset - 1] = 0;
        int bodyLength = result.Length - HandshakeBodyOffset;
        result[11] = (byte)((bodyLength + 12) >> 8);
        result[12] = (byte)(bodyLength + 12);
        foreach (int at in new[] { 13 + 1, 13 + 9 })
        {
            result[at] = (byte)(bodyLength >> 16);
            result[at + 1] = (byte)(bodyLength >> 8);
            result[at + 2] = (byte)bodyLength;
        }

        return result;
    }

    /// <summary>The HelloVerifyRequest body: server_version (2), cookie length (1), cookie.</summary>
    private static byte[] HelloVerifyRequestCookie(byte[] helloVerifyRequest) =>
        helloVerifyRequest.AsSpan(HandshakeBodyOffset + 3, helloVerifyRequest[HandshakeBodyOffset + 2]).ToArray();

    /// <summary>Counts what is sent and keeps nothing (allocates nothing).</summary>
    private sealed class CountingSender : DatagramSender
    {
        public int Count { get; private set; }

        public int GetSendLimit() => 1_400;

        public void Send(byte[] buf, int off, int len) => Count++;

        public void Send(ReadOnlySpan<byte> buffer) => Count++;
    }

    private sealed class CapturingSender : DatagramSender
    {
        public List<byte[]> Sent { get; } = [];

        public int GetSendLimit() => 1_400;

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer) => Sent.Add(buffer.ToArray());
    }

    /// <summary>
    /// A BouncyCastle DTLS 1.2 client on a thread of its own, over a transport made of two queues: what it sends is
    /// taken with <see cref="NextSent"/>, what it should receive is given with <see cref="Deliver"/>.
    /// </summary>
    private sealed class BouncyCastleClient : DatagramTransport, IDisposable
    {
        private static readonly TimeSpan s_wait = TimeSpan.FromSeconds(10);

        private readonly BlockingCollection<byte[]> _sent = [];
        private readonly BlockingCollection<byte[]> _toClient = [];
        private readonly CancellationTokenSource _stop = new();
        private readonly Thread _thread;

        public BouncyCastleClient()
        {
            _thread = new Thread(Run) { IsBackground = true, Name = "BouncyCastle DTLS client (test)" };
            _thread.Start();
        }

        /// <summary>The next datagram the client sends that satisfies <paramref name="predicate"/> (others, such as retransmissions, are skipped).</summary>
        public byte[] NextSent(Func<byte[], bool>? predicate = null)
        {
            var deadline = DateTime.UtcNow + s_wait;
            while (_sent.TryTake(out var datagram, Remaining(deadline)))
            {
                if (predicate is null || predicate(datagram))
                {
                    return datagram;
                }
            }

            throw new TimeoutException("The BouncyCastle client sent no such datagram.");
        }

        public void Deliver(byte[] datagram) => _toClient.Add(datagram);

        public void Dispose()
        {
            _stop.Cancel();
            _thread.Join(s_wait);
            _stop.Dispose();
            _sent.Dispose();
            _toClient.Dispose();
        }

        int DatagramReceiver.GetReceiveLimit() => 65_535;

        int DatagramSender.GetSendLimit() => 1_400;

        int DatagramReceiver.Receive(byte[] buf, int off, int len, int waitMillis) =>
            ((DatagramReceiver)this).Receive(buf.AsSpan(off, len), waitMillis);

        int DatagramReceiver.Receive(Span<byte> buffer, int waitMillis)
        {
            byte[]? datagram;
            try
            {
                if (!_toClient.TryTake(out datagram, waitMillis, _stop.Token))
                {
                    return -1;
                }
            }
            catch (OperationCanceledException)
            {
                throw new IOException("The test is over.");
            }

            datagram.CopyTo(buffer);
            return datagram.Length;
        }

        void DatagramSender.Send(byte[] buf, int off, int len) => ((DatagramSender)this).Send(buf.AsSpan(off, len));

        void DatagramSender.Send(ReadOnlySpan<byte> buffer)
        {
            if (!_stop.IsCancellationRequested)
            {
                _sent.Add(buffer.ToArray());
            }
        }

        void TlsCloseable.Close()
        {
        }

        private static TimeSpan Remaining(DateTime deadline)
        {
            var remaining = deadline - DateTime.UtcNow;
            return remaining > TimeSpan.Zero ? remaining : TimeSpan.Zero;
        }

        private void Run()
        {
            try
            {
                new DtlsClientProtocol().Connect(new Client(), this);
            }
            catch (IOException)
            {
                // The test ends the handshake (or the client's own handshake timeout does).
            }
        }
    }

    private sealed class Client() : DefaultTlsClient(new BcTlsCrypto(new SecureRandom()))
    {
        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        // Bounds the client thread should a test not end it.
        public override int GetHandshakeTimeoutMillis() => 15_000;

        public override TlsAuthentication GetAuthentication() =>
            throw new InvalidOperationException("The test never gets as far as the server's certificate.");
    }
}
