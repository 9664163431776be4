using System.Buffers.Binary;
using System.Net;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport.Tests.Infrastructure;
using static SukatDtls.Transport.Tests.Infrastructure.DtlsRecords;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Datagrams from unknown peers that are not a ClientHello with a valid cookie must cost the listener nothing: no
/// peer socket, no handshake, no connection, no error; junk is dropped, ClientHellos get a stateless cookie. Plain UDP
/// sockets on loopback send it all (deterministic: seeded), and a real client connects afterwards.
/// </summary>
public sealed class HostileInputTests(ITestOutputHelper output)
{
    private const int Seed = 6347; // RFC 6347

    private static readonly TimeSpan HelloVerifyTimeout = TimeSpan.FromSeconds(5);

    // The assigned content types, tls12_cid (25), and unassigned ones.
    private static readonly byte[] ContentTypes = [20, 21, 22, 23, 24, 25, 0, 1, 19, 26, 63, 127, 128, 254, 255];

    // Around the record header (13) and the listener's minimum ClientHello (25).
    private static readonly int[] EdgeLengths = [0, 1, 2, 12, 13, 14, 24, 25, 26];

    private static readonly int[] EdgeCookieLengths = [1, 16, 32, 255];

    private readonly ConnectionObserver _observer = new();

    private Task<DtlsTestHost> StartAsync() =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: services => services.AddSingleton(_observer));

    [Fact]
    public async Task Junk_and_records_other_than_a_ClientHello_are_dropped_without_allocating_anything()
    {
        await using var host = await StartAsync();
        var random = new Random(Seed);
        using var sender = new RawUdpSender(host.DtlsEndPoint, host.Listener.Statistics);

        // Random bytes of assorted lengths, the short edge cases first (an empty datagram included).
        foreach (int length in EdgeLengths.Concat(Enumerable.Range(0, 600).Select(_ => random.Next(0, 2001))))
        {
            await sender.SendAsync(RandomBytes(random, length));
        }

        // Every content type, at epoch 0 and 1, with payloads from empty to a few hundred bytes; consistent lengths.
        foreach (byte type in ContentTypes)
        {
            foreach (ushort epoch in new ushort[] { 0, 1 })
            {
                foreach (int length in new[] { 0, 1, 2, 16, 48, 300 })
                {
                    byte[] payload = RandomBytes(random, length);
                    if (type == 22 && length > 0 && payload[0] == Org.BouncyCastle.Tls.HandshakeType.client_hello)
                    {
                        payload[0] = 0; // ClientHellos come below, on purpose
                    }

                    await sender.SendAsync(Record(type, epoch, (ulong)random.Next(), payload));
                }
            }
        }

        // Handshake records of every handshake type but ClientHello, at epoch 0 and 1.
        for (int handshakeType = 0; handshakeType < 256; handshakeType++)
        {
            if (handshakeType == Org.BouncyCastle.Tls.HandshakeType.client_hello)
            {
                continue;
            }

            foreach (ushort epoch in new ushort[] { 0, 1 })
            {
                var message = HandshakeMessage((byte)handshakeType, (ushort)random.Next(0, 3), RandomBytes(random, random.Next(0, 65)));
                await sender.SendAsync(Record(22, epoch, (ulong)random.Next(0, 8), message));
            }
        }

        // Truncated records: a valid-looking header that declares more than the datagram holds.
        foreach (byte type in ContentTypes)
        {
            foreach (ushort epoch in new ushort[] { 0, 1 })
            {
                foreach (int declared in new[] { 1, 100, 1_000, 16_384, 65_535 })
                {
                    byte[] payload = type == 22
                        ? HandshakeMessage((byte)random.Next(2, 25), 0, RandomBytes(random, 40))
                        : RandomBytes(random, 40);
                    int actual = random.Next(0, Math.Min(declared, payload.Length));
                    await sender.SendAsync(Record(type, epoch, 0, payload.AsSpan(0, actual), declaredLength: declared));
                }
            }
        }

        // A real ClientHello cut short, its header unchanged: it passes the listener's quick check, BouncyCastle refuses it.
        byte[] clientHello = ClientHello;
        for (int cut = HandshakeBodyOffset; cut < clientHello.Length; cut += 3)
        {
            await sender.SendAsync(clientHello[..cut]);
        }

        // ClientHellos the listener must not take: at epochs other than 0, and with a TLS (not DTLS) record version.
        foreach (ushort epoch in new ushort[] { 1, 2, 0xFFFF })
        {
            var atEpoch = ClientHello;
            BinaryPrimitives.WriteUInt16BigEndian(atEpoch.AsSpan(3), epoch);
            await sender.SendAsync(atEpoch);
        }

        var tlsVersion = ClientHello;
        BinaryPrimitives.WriteUInt16BigEndian(tlsVersion.AsSpan(1), 0x0303);
        await sender.SendAsync(tlsVersion);

        await sender.WaitUntilReceivedAsync();
        var statistics = host.Listener.Statistics;
        output.WriteLine($"sent {sender.Sent} datagrams; received {statistics.DatagramsReceived}, dropped {statistics.DatagramsDropped}, cookies {statistics.CookiesSent}");
        Assert.Equal(sender.Sent, statistics.DatagramsReceived);
        Assert.Equal(sender.Sent, statistics.DatagramsDropped);
        Assert.Equal(0, statistics.CookiesSent);
        AssertNothingAllocated(host);

        await AssertARealClientStillConnectsAsync(host);
    }

    [Fact]
    public async Task Unanswered_ClientHellos_from_many_ports_get_a_cookie_each_and_nothing_more()
    {
        await using var host = await StartAsync();
        var random = new Random(Seed);
        using var sender = new RawUdpSender(host.DtlsEndPoint, host.Listener.Statistics);
        byte[] clientHello = ClientHello;
        output.WriteLine($"captured a BouncyCastle ClientHello of {clientHello.Length} bytes");

        // The first flight of a real client, from 128 source ports; none answers its HelloVerifyRequest.
        var fresh = Enumerable.Range(0, 128).Select(_ => sender.NewSocket()).ToArray();
        foreach (var socket in fresh)
        {
            await sender.SendAsync(clientHello, socket);
        }

        // A client that retransmits its ClientHello (as after a lost HelloVerifyRequest) gets a cookie each time.
        var retransmitting = Enumerable.Range(0, 8).Select(_ => sender.NewSocket()).ToArray();
        foreach (var socket in retransmitting)
        {
            for (int i = 0; i < 3; i++)
            {
                await sender.SendAsync(clientHello, socket);
            }
        }

        // Forged cookies, of every length from 1 to 255: a new HelloVerifyRequest, not a handshake.
        var forging = new List<System.Net.Sockets.Socket>();
        foreach (int length in EdgeCookieLengths.Concat(Enumerable.Range(0, 28).Select(_ => random.Next(1, 256))))
        {
            var socket = sender.NewSocket();
            forging.Add(socket);
            await sender.SendAsync(WithCookie(clientHello, RandomBytes(random, length)), socket);
        }

        await sender.WaitUntilReceivedAsync();

        // Every unanswered ClientHello got a HelloVerifyRequest: handshake record, handshake type 3, a cookie.
        var cookies = await Task.WhenAll(fresh.Select(ReceiveHelloVerifyRequestAsync));
        Assert.All(cookies, cookie => Assert.InRange(cookie.Length, 1, 255));
        Assert.Equal(cookies.Length, cookies.Distinct(ByteArrayComparer.Instance).Count()); // bound to the source address
        foreach (var socket in retransmitting)
        {
            for (int i = 0; i < 3; i++)
            {
                await ReceiveHelloVerifyRequestAsync(socket);
            }
        }

        await Task.WhenAll(forging.Select(ReceiveHelloVerifyRequestAsync));

        // A cookie is good for the address it was made for only: replayed from another port, it earns a new cookie.
        var replaying = Enumerable.Range(0, 16).Select(_ => sender.NewSocket()).ToArray();
        for (int i = 0; i < replaying.Length; i++)
        {
            await sender.SendAsync(WithCookie(clientHello, cookies[i]), replaying[i]);
        }

        await sender.WaitUntilReceivedAsync();
        var replayCookies = await Task.WhenAll(replaying.Select(ReceiveHelloVerifyRequestAsync));
        Assert.All(replayCookies.Zip(cookies), pair => Assert.NotEqual(pair.Second, pair.First));

        var statistics = host.Listener.Statistics;
        output.WriteLine($"sent {sender.Sent} ClientHellos; received {statistics.DatagramsReceived}, cookies {statistics.CookiesSent}, dropped {statistics.DatagramsDropped}");
        Assert.Equal(sender.Sent, statistics.DatagramsReceived);
        Assert.Equal(sender.Sent, statistics.CookiesSent);
        Assert.Equal(0, statistics.DatagramsDropped);
        AssertNothingAllocated(host);

        await AssertARealClientStillConnectsAsync(host);
    }

    [Fact]
    public async Task Mangled_ClientHellos_are_dropped_or_get_a_cookie_and_never_break_the_listener()
    {
        await using var host = await StartAsync();
        var random = new Random(Seed);
        using var sender = new RawUdpSender(host.DtlsEndPoint, host.Listener.Statistics);
        byte[] clientHello = ClientHello;
        byte[] body = ClientHelloBody(clientHello);

        // Every truncation of a real ClientHello, with the record and handshake lengths fixed up to the cut: each
        // header is consistent, the body inside is short.
        for (int cut = 0; cut < body.Length; cut++)
        {
            await sender.SendAsync(Record(22, 0, 0, HandshakeMessage(1, 0, body.AsSpan(0, cut))));
        }

        // The same with a handshake header that still declares the whole body (a fragment in disguise), and the reverse.
        for (int cut = 0; cut < body.Length; cut += 2)
        {
            await sender.SendAsync(Record(22, 0, 0, HandshakeMessage(1, 0, body.AsSpan(0, cut), declaredLength: body.Length, fragmentLength: body.Length)));
            await sender.SendAsync(Record(22, 0, 0, HandshakeMessage(1, 0, body, declaredLength: cut, fragmentLength: cut)));
        }

        // Real fragments: a ClientHello split in two (the listener only takes it whole).
        for (int split = 1; split < body.Length; split += 7)
        {
            await sender.SendAsync(Record(22, 0, 0, HandshakeMessage(1, 0, body.AsSpan(0, split), declaredLength: body.Length)));
            await sender.SendAsync(Record(22, 0, 1, HandshakeMessage(1, 0, body.AsSpan(split), declaredLength: body.Length, fragmentOffset: split)));
        }

        // Each inner length field (session id, cookie, cipher suites, compression methods, extensions) set to
        // 0, 1, its value +-1, and its maximum.
        foreach (var (offset, width) in LengthFields(body))
        {
            int original = width == 1 ? body[offset] : BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(offset));
            foreach (int value in new[] { 0, 1, original - 1, original + 1, width == 1 ? 0xFF : 0xFFFF })
            {
                var mangled = (byte[])body.Clone();
                if (width == 1)
                {
                    mangled[offset] = (byte)value;
                }
                else
                {
                    BinaryPrimitives.WriteUInt16BigEndian(mangled.AsSpan(offset), (ushort)value);
                }

                await sender.SendAsync(Record(22, 0, 0, HandshakeMessage(1, 0, mangled)));
            }
        }

        // Random byte mutations anywhere after the listener's quick check (record type, version, epoch, handshake type).
        for (int i = 0; i < 500; i++)
        {
            var mutated = (byte[])clientHello.Clone();
            for (int changes = random.Next(1, 5); changes > 0; changes--)
            {
                int at = random.Next(0, mutated.Length);
                if (at is 0 or 1 or 3 or 4 or 13)
                {
                    continue;
                }

                mutated[at] = (byte)random.Next(256);
            }

            await sender.SendAsync(mutated);
        }

        // A ClientHello header with consistent lengths around random bodies, up to a full datagram.
        for (int i = 0; i < 300; i++)
        {
            int length = i < 10 ? i : random.Next(0, 1_400);
            await sender.SendAsync(Record(22, 0, (ulong)i, HandshakeMessage(1, (ushort)random.Next(0, 3), RandomBytes(random, length))));
        }

        // A ClientHello followed by more bytes in the same datagram: a second record, and plain junk.
        await sender.SendAsync([.. clientHello, .. Record(22, 0, 1, HandshakeMessage(1, 0, body))]);
        await sender.SendAsync([.. clientHello, .. RandomBytes(random, 100)]);

        await sender.WaitUntilReceivedAsync();
        var statistics = host.Listener.Statistics;
        output.WriteLine($"sent {sender.Sent} datagrams; received {statistics.DatagramsReceived}, dropped {statistics.DatagramsDropped}, cookies {statistics.CookiesSent}");
        Assert.Equal(sender.Sent, statistics.DatagramsReceived);
        // Each datagram was dropped, answered with a cookie, or (a ClientHello fragment) held for reassembly.
        Assert.Equal(sender.Sent, statistics.DatagramsDropped + statistics.CookiesSent + statistics.ClientHelloFragmentsHeld);
        Assert.True(statistics.DatagramsDropped > 0, "The truncated ClientHellos were not dropped.");
        AssertNothingAllocated(host);

        await AssertARealClientStillConnectsAsync(host);
    }

    private void AssertNothingAllocated(DtlsTestHost host)
    {
        var statistics = host.Listener.Statistics;
        Assert.Equal(0, statistics.PeerSocketsCreated);
        Assert.Equal(0, statistics.HandshakesStarted);
        Assert.Equal(0, statistics.HandshakesRefused);
        Assert.Equal(0, host.Listener.PeerCount);
        Assert.Empty(_observer.All);
        AssertNoErrorLogged(host);
    }

    private async Task AssertARealClientStillConnectsAsync(DtlsTestHost host)
    {
        var statistics = host.Listener.Statistics;
        long droppedBefore = statistics.DatagramsDropped;

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("still serving");
        Assert.Equal("still serving", client.ReceiveText());
        await _observer.NextAsync();

        Assert.Equal(1, statistics.PeerSocketsCreated);
        Assert.Equal(1, statistics.HandshakesStarted);
        Assert.Equal(1, statistics.HandshakesCompleted);
        Assert.Equal(1, host.Listener.PeerCount);
        Assert.Equal(droppedBefore, statistics.DatagramsDropped);
        AssertNoErrorLogged(host);
    }

    private static void AssertNoErrorLogged(DtlsTestHost host) =>
        Assert.DoesNotContain(host.Logs.Entries, entry => entry.Level >= LogLevel.Error);

    private static async Task<byte[]> ReceiveHelloVerifyRequestAsync(System.Net.Sockets.Socket socket)
    {
        byte[] datagram = await RawUdpSender.ReceiveAsync(socket, HelloVerifyTimeout);
        Assert.True(datagram.Length > HandshakeBodyOffset, $"A reply of {datagram.Length} bytes is too short for a HelloVerifyRequest.");
        Assert.Equal(22, datagram[0]); // handshake record
        Assert.Equal(3, datagram[13]); // hello_verify_request
        Assert.True(TryReadHelloVerifyRequest(datagram, out byte[] cookie));
        return cookie;
    }

    /// <summary>Offsets and widths of the length fields in a ClientHello body, found by walking it.</summary>
    private static IEnumerable<(int Offset, int Width)> LengthFields(byte[] body)
    {
        int at = 2 + 32;
        yield return (at, 1); // session_id
        at += 1 + body[at];
        yield return (at, 1); // cookie
        at += 1 + body[at];
        yield return (at, 2); // cipher_suites
        at += 2 + BinaryPrimitives.ReadUInt16BigEndian(body.AsSpan(at));
        yield return (at, 1); // compression_methods
        at += 1 + body[at];
        if (at + 2 <= body.Length)
        {
            yield return (at, 2); // extensions
        }
    }

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        return bytes;
    }

    private sealed class ByteArrayComparer : IEqualityComparer<byte[]>
    {
        public static readonly ByteArrayComparer Instance = new();

        public bool Equals(byte[]? x, byte[]? y) => x.AsSpan().SequenceEqual(y);

        public int GetHashCode(byte[] obj)
        {
            var hash = new HashCode();
            hash.AddBytes(obj);
            return hash.ToHashCode();
        }
    }
}
