using System.Diagnostics;
using System.Diagnostics.Metrics;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.Metrics.Testing;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using StackExchange.Redis;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Sessions on a real Redis (a redis-server of the test's own) shared by several nodes (Kestrel hosts): a session made
/// on one node resumes on another and after a restart; a Redis that stops turns resumptions into full handshakes, in
/// bounded time and with no error for the client, and resumption comes back with it; stored bytes that were changed,
/// moved to another session ID or encrypted under another key are not resumed, and are logged.
/// </summary>
public sealed class DistributedSessionTests(ITestOutputHelper output) : IAsyncLifetime
{
    internal const string Key = "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    private const string OtherKey = "ff0102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f";
    internal const string InstanceName = "test:";

    private RedisServer _redis = null!;

    public async Task InitializeAsync() => _redis = await RedisServer.StartAsync(output);

    public async Task DisposeAsync() => await _redis.DisposeAsync();

    [Fact]
    public async Task A_session_made_on_one_node_resumes_on_another()
    {
        var observerB = new ConnectionObserver();
        await using var nodeA = await StartNodeAsync(_redis, output);
        await using var nodeB = await StartNodeAsync(_redis, output, observer: observerB);
        using var lookups = new MetricCollector<long>(nodeB.Services.GetRequiredService<IMeterFactory>(), DtlsMetrics.MeterName, "dtls.session_cache.lookups");
        await using var client = Client();

        var session = await FullHandshakeAsync(client, nodeA);
        await WaitUntilStoredAsync(session);

        await using var resumed = await client.ConnectAsync(nodeB.DtlsEndPoint, session);
        Assert.Equal("on B", await EchoOnceAsync(resumed, "on B"));
        Assert.True(resumed.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.True((await observerB.NextAsync()).Connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Equal("hit", Assert.Single(lookups.GetMeasurementSnapshot()).Tags["result"]);
    }

    [Fact]
    public async Task A_session_survives_a_restart_of_its_node()
    {
        await using var client = Client();
        DtlsResumableSession session;
        int port;
        await using (var nodeA = await StartNodeAsync(_redis, output))
        {
            session = await FullHandshakeAsync(client, nodeA);
            port = nodeA.DtlsEndPoint.Port;
            await WaitUntilStoredAsync(session);
        }

        // A new process would have nothing in memory; a new host has nothing either.
        await using var restarted = await StartNodeAsync(_redis, output);
        Assert.NotEqual(0, port);
        await using var resumed = await client.ConnectAsync(restarted.DtlsEndPoint, session);
        Assert.Equal("after restart", await EchoOnceAsync(resumed, "after restart"));
        Assert.True(resumed.Features.Get<IDtlsSessionFeature>()!.IsResumed);
    }

    [Fact]
    public async Task When_redis_stops_clients_get_full_handshakes_in_bounded_time_and_resumption_returns_with_it()
    {
        await using var nodeA = await StartNodeAsync(_redis, output);
        await using var nodeB = await StartNodeAsync(_redis, output);
        using var lookups = new MetricCollector<long>(nodeB.Services.GetRequiredService<IMeterFactory>(), DtlsMetrics.MeterName, "dtls.session_cache.lookups");
        await using var client = Client();
        var session = await FullHandshakeAsync(client, nodeA);
        await WaitUntilStoredAsync(session);

        await _redis.StopAsync();

        // Each resumption falls back to a full handshake at once or after the operation timeout: no error, no hang.
        for (int i = 0; i < 3; i++)
        {
            var clock = Stopwatch.StartNew();
            await using var fallback = await client.ConnectAsync(nodeB.DtlsEndPoint, session);
            Assert.Equal("redis down", await EchoOnceAsync(fallback, "redis down"));
            Assert.False(fallback.Features.Get<IDtlsSessionFeature>()!.IsResumed);
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(3), $"a handshake with Redis down took {clock.Elapsed.TotalMilliseconds:F0} ms");
        }

        // Each failed lookup counts as an error, not also as a miss.
        var measured = lookups.GetMeasurementSnapshot();
        Assert.Contains(measured, m => Equals(m.Tags["result"], "error"));
        Assert.DoesNotContain(measured, m => Equals(m.Tags["result"], "miss"));
        Assert.Contains(nodeB.Logs.Entries, e => e.EventId.Id is 51 or 52);

        await _redis.RestartAsync();

        // Redis kept nothing (no persistence): a new session made on A resumes on B once both have reconnected.
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (true)
        {
            var fresh = await FullHandshakeAsync(client, nodeA);
            bool stored = await IsStoredWithinAsync(fresh, TimeSpan.FromSeconds(2));
            if (stored)
            {
                await using var again = await client.ConnectAsync(nodeB.DtlsEndPoint, fresh);
                Assert.Equal("redis back", await EchoOnceAsync(again, "redis back"));
                if (again.Features.Get<IDtlsSessionFeature>()!.IsResumed)
                {
                    break;
                }
            }

            Assert.True(DateTime.UtcNow < deadline, "resumption did not come back within 20 s of Redis' restart");
        }
    }

    [Fact]
    public async Task A_stored_session_whose_bytes_were_changed_is_not_resumed_and_is_logged()
    {
        await using var nodeA = await StartNodeAsync(_redis, output);
        await using var nodeB = await StartNodeAsync(_redis, output);
        await using var client = Client();
        var session = await FullHandshakeAsync(client, nodeA);
        await WaitUntilStoredAsync(session);

        var database = await _redis.DatabaseAsync();
        string key = RedisKey(session);
        byte[] blob = (byte[])(await database.HashGetAsync(key, "data"))!;
        blob[^1] ^= 0x01; // the last byte of the ciphertext
        await database.HashSetAsync(key, "data", blob);

        await using var connection = await client.ConnectAsync(nodeB.DtlsEndPoint, session);
        Assert.Equal("tampered", await EchoOnceAsync(connection, "tampered"));
        Assert.False(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Contains(nodeB.Logs.Entries, e => e.EventId.Id == 53 && e.Message.Contains("does not authenticate", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_stored_session_moved_to_another_session_id_is_not_resumed()
    {
        await using var nodeA = await StartNodeAsync(_redis, output);
        await using var client = Client();
        var first = await FullHandshakeAsync(client, nodeA);
        var second = await FullHandshakeAsync(client, nodeA);
        await WaitUntilStoredAsync(first);
        await WaitUntilStoredAsync(second);

        // Whoever can write to Redis puts the first session under the second one's ID.
        var database = await _redis.DatabaseAsync();
        byte[] blob = (byte[])(await database.HashGetAsync(RedisKey(first), "data"))!;
        await database.HashSetAsync(RedisKey(second), "data", blob);

        await using var connection = await client.ConnectAsync(nodeA.DtlsEndPoint, second);
        Assert.Equal("moved", await EchoOnceAsync(connection, "moved"));
        Assert.False(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Contains(nodeA.Logs.Entries, e => e.EventId.Id == 53);
    }

    [Fact]
    public async Task A_node_with_another_encryption_key_does_not_resume_the_session_and_says_why()
    {
        await using var nodeA = await StartNodeAsync(_redis, output);
        await using var nodeB = await StartNodeAsync(_redis, output, key: OtherKey);
        await using var client = Client();
        var session = await FullHandshakeAsync(client, nodeA);
        await WaitUntilStoredAsync(session);

        await using var connection = await client.ConnectAsync(nodeB.DtlsEndPoint, session);
        Assert.Equal("other key", await EchoOnceAsync(connection, "other key"));
        Assert.False(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Contains(nodeB.Logs.Entries, e => e.EventId.Id == 53 && e.Message.Contains("another key", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_resumed_handshake_that_ends_with_a_fatal_alert_removes_the_session_from_redis()
    {
        await using var nodeA = await StartNodeAsync(_redis, output, configureDtls: o => o.HandshakeTimeout = TimeSpan.FromSeconds(1));
        await using var client = Client();
        var session = await FullHandshakeAsync(client, nodeA);
        await WaitUntilStoredAsync(session);

        // The client's ClientHellos reach the server, its final flight never does: the client is done (in an abbreviated
        // handshake its Finished comes last), the server's handshake times out and ends with a fatal alert.
        await using var proxy = new ImpairmentProxy(nodeA.DtlsEndPoint, seed: 14);
        proxy.Impair(new Impairment { Drop = 1.0, PassFirst = 2 }, Impairment.None);
        await using (await client.ConnectAsync(proxy.EndPoint, session))
        {
        }

        var database = await _redis.DatabaseAsync();
        await Wait.UntilAsync(() => nodeA.Logs.Entries.Any(e => e.EventId.Id == 55));
        await Wait.UntilAsync(() => !database.KeyExists(RedisKey(session))); // removed in the background
    }

    /// <summary>A Kestrel host with the distributed session store on <paramref name="redis"/>.</summary>
    internal static Task<DtlsTestHost> StartNodeAsync(RedisServer redis, ITestOutputHelper output, string key = Key,
        ConnectionObserver? observer = null, Action<DtlsTransportOptions>? configureDtls = null) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureDtls, configureServices: services =>
        {
            services.AddSingleton(observer ?? new ConnectionObserver());
            services.AddStackExchangeRedisCache(o =>
            {
                o.Configuration = redis.Configuration;
                o.InstanceName = InstanceName;
            });
            services.AddDtlsDistributedSessionCache(o => o.EncryptionKey = key);
        });

    /// <summary>The Redis key of a session, as the store names it (instance name, key prefix, hex session ID).</summary>
    internal static string RedisKey(DtlsResumableSession session) => InstanceName + "dtls-session:" + session.SessionId;

    internal static DtlsConnectionFactory Client() =>
        new(Options.Create(new DtlsClientOptions { DangerousAcceptAnyServerCertificate = true }), NullLoggerFactory.Instance);

    internal static async Task<DtlsResumableSession> FullHandshakeAsync(DtlsConnectionFactory client, DtlsTestHost node)
    {
        await using var connection = await client.ConnectAsync(node.DtlsEndPoint);
        Assert.Equal("full", await EchoOnceAsync(connection, "full"));
        Assert.False(connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        return connection.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
    }

    internal static async Task<string> EchoOnceAsync(ConnectionContext connection, string text)
    {
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        await datagrams.SendAsync(System.Text.Encoding.UTF8.GetBytes(text));
        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>Sessions are written in the background, after the handshake: wait (bounded) until Redis has it.</summary>
    private async Task WaitUntilStoredAsync(DtlsResumableSession session)
    {
        Assert.True(await IsStoredWithinAsync(session, TimeSpan.FromSeconds(10)), $"session {session.SessionId} was not stored in Redis within 10 s");
    }

    private async Task<bool> IsStoredWithinAsync(DtlsResumableSession session, TimeSpan timeout)
    {
        var database = await _redis.DatabaseAsync();
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline)
        {
            try
            {
                if (await database.KeyExistsAsync(RedisKey(session)))
                {
                    return true;
                }
            }
            catch (RedisException)
            {
                // Our own connection has not reconnected yet.
            }

            await Task.Delay(10);
        }

        return false;
    }
}
