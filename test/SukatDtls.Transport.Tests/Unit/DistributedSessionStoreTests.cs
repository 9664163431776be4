using System.Diagnostics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Caching.Memory;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The distributed store's own rules, over caches that are not Redis: a cache that never answers ends each lookup at
/// the timeout (however it treats its token), is then left alone, and cannot hold up disposal; a session comes back
/// from a cache and expires with its lifetime. (Redis itself: <c>Functional.DistributedSessionTests</c>.)
/// </summary>
public sealed class DistributedSessionStoreTests
{
    private static readonly BcTlsCrypto s_crypto = new(new SecureRandom());
    private static readonly byte[] s_sessionId = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();

    [Fact]
    public async Task A_lookup_in_a_cache_that_never_answers_ends_at_the_timeout_and_no_more_than_256_wait_at_once()
    {
        var cache = new SilentCache();
        await using var store = Store(cache, TimeProvider.System, TimeSpan.FromMilliseconds(50));

        var clock = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<SessionStoreException>(() => store.GetAsync(s_sessionId, CancellationToken.None).AsTask().WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal("timeout", ex.ErrorType);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(1), $"the lookup took {clock.Elapsed.TotalMilliseconds:F0} ms");

        // The abandoned lookups stay under way in the cache (it never finishes them): beyond 256, lookups fail at once.
        var lookups = Enumerable.Range(0, 300).Select(_ => store.GetAsync(s_sessionId, CancellationToken.None).AsTask()).ToArray();
        var failures = await Task.WhenAll(lookups.Select(async l => (await Assert.ThrowsAsync<SessionStoreException>(() => l.WaitAsync(TimeSpan.FromSeconds(5)))).ErrorType));
        Assert.Equal(SessionStoreBackoff.MaxInFlight - 2, failures.Count(f => f == "timeout")); // the connection probe and the first lookup hold 2
        Assert.All(failures.Where(f => f != "timeout"), f => Assert.Equal("unavailable", f));
    }

    [Fact]
    public async Task After_three_errors_in_a_row_the_cache_is_left_alone_for_a_second()
    {
        var cache = new FailingCache();
        await using var store = Store(cache, TimeProvider.System, TimeSpan.FromMilliseconds(50));
        await WaitUntilAsync(() => Task.FromResult(cache.Lookups == 1)); // the connection probe failed: one error

        for (int i = 1; i < SessionStoreBackoff.FailuresBeforeBackoff; i++)
        {
            var ex = await Assert.ThrowsAsync<SessionStoreException>(() => store.GetAsync(s_sessionId, CancellationToken.None).AsTask());
            Assert.Equal(nameof(InvalidOperationException), ex.ErrorType);
        }

        int asked = cache.Lookups;
        var skipped = await Assert.ThrowsAsync<SessionStoreException>(() => store.GetAsync(s_sessionId, CancellationToken.None).AsTask());
        Assert.Equal("unavailable", skipped.ErrorType);
        Assert.Equal(asked, cache.Lookups);
    }

    [Fact]
    public async Task Disposal_waits_for_writes_under_way_but_not_longer_than_their_timeout()
    {
        var cache = new SilentCache();
        var store = Store(cache, TimeProvider.System, TimeSpan.FromMilliseconds(50));
        await store.SetAsync(s_sessionId, State(DateTimeOffset.UtcNow), CancellationToken.None);
        Assert.Equal(1, cache.Writes);

        var clock = Stopwatch.StartNew();
        await store.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10));
        Assert.InRange(clock.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task A_session_comes_back_from_the_cache_until_its_lifetime_is_over()
    {
        var time = new FakeTimeProvider(DateTimeOffset.UtcNow);
        var cache = new MemoryDistributedCache(Options.Create(new MemoryDistributedCacheOptions()));
        await using var store = Store(cache, time, TimeSpan.FromSeconds(1));
        await store.SetAsync(s_sessionId, State(time.GetUtcNow()), CancellationToken.None);
        await WaitUntilAsync(async () => await cache.GetAsync(store.KeyOf(s_sessionId)) is not null);

        var found = await store.GetAsync(s_sessionId, CancellationToken.None);
        Assert.NotNull(found);
        Assert.Equal(s_sessionId, found.Session.SessionID);

        time.Advance(TimeSpan.FromHours(1));
        Assert.Null(await store.GetAsync(s_sessionId, CancellationToken.None));
    }

    private static DistributedDtlsSessionCache Store(IDistributedCache cache, TimeProvider time, TimeSpan timeout) =>
        new(cache, new DtlsDistributedSessionCacheOptions { EncryptionKey = "000102030405060708090a0b0c0d0e0f", OperationTimeout = timeout },
            TimeSpan.FromHours(1), time, NullLoggerFactory.Instance, meterFactory: null);

    private static DtlsSessionState State(DateTimeOffset created) => new(TlsUtilities.ImportSession(s_sessionId, new SessionParameters.Builder()
        .SetCipherSuite(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
        .SetNegotiatedVersion(ProtocolVersion.DTLSv12)
        .SetExtendedMasterSecret(true)
        .SetMasterSecret(s_crypto.CreateSecret(new byte[48]))
        .Build()), created);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!await condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not become true in time");
            await Task.Delay(5);
        }
    }

    /// <summary>A cache whose every operation throws (as a client whose server refuses connections).</summary>
    private sealed class FailingCache : IDistributedCache
    {
        private int _lookups;

        public int Lookups => Volatile.Read(ref _lookups);

        public byte[]? Get(string key) => throw new NotSupportedException();

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
        {
            Interlocked.Increment(ref _lookups);
            return Task.FromException<byte[]?>(new InvalidOperationException("No connection is available."));
        }

        public void Refresh(string key) => throw new NotSupportedException();

        public Task RefreshAsync(string key, CancellationToken token = default) => throw new NotSupportedException();

        public void Remove(string key) => throw new NotSupportedException();

        public Task RemoveAsync(string key, CancellationToken token = default) => Task.FromException(new InvalidOperationException("No connection."));

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw new NotSupportedException();

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default) =>
            Task.FromException(new InvalidOperationException("No connection."));
    }

    /// <summary>A cache that never completes an operation and ignores its token (as a hung server with a client that cannot cancel a sent command).</summary>
    private sealed class SilentCache : IDistributedCache
    {
        private int _lookups;
        private int _writes;

        public int Lookups => Volatile.Read(ref _lookups);

        public int Writes => Volatile.Read(ref _writes);

        public byte[]? Get(string key) => throw new NotSupportedException();

        public Task<byte[]?> GetAsync(string key, CancellationToken token = default)
        {
            Interlocked.Increment(ref _lookups);
            return new TaskCompletionSource<byte[]?>().Task;
        }

        public void Refresh(string key) => throw new NotSupportedException();

        public Task RefreshAsync(string key, CancellationToken token = default) => new TaskCompletionSource().Task;

        public void Remove(string key) => throw new NotSupportedException();

        public Task RemoveAsync(string key, CancellationToken token = default) => new TaskCompletionSource().Task;

        public void Set(string key, byte[] value, DistributedCacheEntryOptions options) => throw new NotSupportedException();

        public Task SetAsync(string key, byte[] value, DistributedCacheEntryOptions options, CancellationToken token = default)
        {
            Interlocked.Increment(ref _writes);
            return new TaskCompletionSource().Task;
        }
    }
}
