using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Abbreviated handshakes by session ID, between our client and our server.</summary>
public sealed class ResumptionTests(ITestOutputHelper output)
{
    private readonly ConnectionObserver _observer = new();

    private static DtlsConnectionFactory Client()
    {
        var options = new DtlsClientOptions { DangerousAcceptAnyServerCertificate = true };
        return new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
    }

    private static async Task<string> EchoOnceAsync(ConnectionContext connection, string text)
    {
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        await datagrams.SendAsync(System.Text.Encoding.UTF8.GetBytes(text));
        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        return System.Text.Encoding.UTF8.GetString(buffer, 0, length);
    }

    [Fact]
    public async Task A_session_is_resumed_with_an_abbreviated_handshake_on_both_sides()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));
        await using var client = Client();

        DtlsResumableSession session;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            Assert.Equal("full", await EchoOnceAsync(first, "full"));
            var feature = first.Features.Get<IDtlsSessionFeature>()!;
            Assert.False(feature.IsResumed);
            session = feature.ResumableSession!;
            Assert.NotNull(session);
            Assert.False((await _observer.NextAsync()).Connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);

            // The full handshake was the server's own, and so is the abbreviated one below.
            Assert.Equal(1, host.Listener.Statistics.OwnHandshakesCompleted);
        }

        await using var second = await client.ConnectAsync(host.DtlsEndPoint, session);
        Assert.Equal("resumed", await EchoOnceAsync(second, "resumed"));
        Assert.True(second.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        var serverSide = (await _observer.NextAsync()).Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.True(serverSide.IsResumed);
        Assert.Equal(session.SessionId, second.Features.Get<IDtlsSessionFeature>()!.ResumableSession!.SessionId);
        Assert.Equal(2, host.Listener.Statistics.OwnHandshakesCompleted);
    }

    [Fact]
    public async Task An_expired_or_unknown_session_falls_back_to_a_full_handshake()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.SessionLifetime = TimeSpan.FromMinutes(5),
            configureServices: s => s.AddSingleton(_observer).AddSingleton<TimeProvider>(time));
        await using var client = Client();

        DtlsResumableSession session;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            Assert.Equal("one", await EchoOnceAsync(first, "one"));
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        time.Advance(TimeSpan.FromMinutes(6));
        await using var second = await client.ConnectAsync(host.DtlsEndPoint, session);
        Assert.Equal("two", await EchoOnceAsync(second, "two"));
        Assert.False(second.Features.Get<IDtlsSessionFeature>()!.IsResumed);
    }

    [Fact]
    public async Task Resumption_can_be_switched_off()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.EnableSessionResumption = false,
            configureServices: s => s.AddSingleton(_observer));
        await using var client = Client();
        await using var connection = await client.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("no session", await EchoOnceAsync(connection, "no session"));
        Assert.Null(connection.Features.Get<IDtlsSessionFeature>()!.ResumableSession);
    }

    [Fact]
    public async Task The_default_cache_keeps_at_most_MaxCachedSessions()
    {
        var cache = new SukatDtls.Transport.Internal.MemoryDtlsSessionCache(2, TimeSpan.FromHours(1), TimeProvider.System);
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.SessionCache = cache,
            configureServices: s => s.AddSingleton(_observer));
        await using var client = Client();
        var sessions = new List<DtlsResumableSession>();
        for (int i = 0; i < 3; i++)
        {
            await using var connection = await client.ConnectAsync(host.DtlsEndPoint);
            sessions.Add(connection.Features.Get<IDtlsSessionFeature>()!.ResumableSession!);
        }

        Assert.Equal(2, cache.Count);
        await using (var oldest = await client.ConnectAsync(host.DtlsEndPoint, sessions[0]))
        {
            Assert.False(oldest.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        }

        await using var newest = await client.ConnectAsync(host.DtlsEndPoint, sessions[2]);
        Assert.True(newest.Features.Get<IDtlsSessionFeature>()!.IsResumed);
    }

    [Fact]
    public async Task MaxCachedSessions_from_the_options_bounds_the_default_cache()
    {
        // No cache of the test's: the one the transport makes from MaxCachedSessions.
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.MaxCachedSessions = 2,
            configureServices: s => s.AddSingleton(_observer));
        await using var client = Client();
        var sessions = new List<DtlsResumableSession>();
        for (int i = 0; i < 3; i++)
        {
            await using var connection = await client.ConnectAsync(host.DtlsEndPoint);
            sessions.Add(connection.Features.Get<IDtlsSessionFeature>()!.ResumableSession!);
        }

        // The oldest of three was pushed out by the third; the two newest are still there.
        await using (var oldest = await client.ConnectAsync(host.DtlsEndPoint, sessions[0]))
        {
            Assert.False(oldest.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        }

        await using var newest = await client.ConnectAsync(host.DtlsEndPoint, sessions[2]);
        Assert.True(newest.Features.Get<IDtlsSessionFeature>()!.IsResumed);
    }

    [Fact]
    public async Task A_session_cache_of_the_applications_that_completes_asynchronously_resumes_sessions()
    {
        var cache = new SlowSessionCache();
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
            o => o.SessionCache = cache,
            configureServices: s => s.AddSingleton(_observer));
        await using var client = Client();

        DtlsResumableSession session;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            Assert.Equal("full", await EchoOnceAsync(first, "full"));
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        await Wait.UntilAsync(() => cache.Stored == 1);
        await using var second = await client.ConnectAsync(host.DtlsEndPoint, session);
        Assert.Equal("resumed", await EchoOnceAsync(second, "resumed"));
        Assert.True(second.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Equal(1, cache.Found);
    }

    /// <summary>An application's cache that answers later, on another thread, as a remote store would.</summary>
    private sealed class SlowSessionCache : IDtlsSessionCache
    {
        private readonly System.Collections.Concurrent.ConcurrentDictionary<string, DtlsSessionState> _sessions = new();
        private int _stored;
        private int _found;

        public int Stored => Volatile.Read(ref _stored);

        public int Found => Volatile.Read(ref _found);

        public async ValueTask SetAsync(ReadOnlyMemory<byte> sessionId, DtlsSessionState session, CancellationToken cancellationToken)
        {
            await Task.Delay(20, cancellationToken);
            _sessions[Convert.ToHexString(sessionId.Span)] = session;
            Interlocked.Increment(ref _stored);
        }

        public async ValueTask<DtlsSessionState?> GetAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
        {
            await Task.Delay(20, cancellationToken);
            if (_sessions.TryGetValue(Convert.ToHexString(sessionId.Span), out var session))
            {
                Interlocked.Increment(ref _found);
                return session;
            }

            return null;
        }

        public async ValueTask RemoveAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
        {
            await Task.Delay(20, cancellationToken);
            _sessions.TryRemove(Convert.ToHexString(sessionId.Span), out _);
        }
    }
}

