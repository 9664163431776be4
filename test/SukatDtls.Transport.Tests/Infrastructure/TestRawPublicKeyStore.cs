using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>An <see cref="IDtlsRawPublicKeyStore"/> that a test controls: the keys it accepts, failing, or never answering.</summary>
internal sealed class TestRawPublicKeyStore : IDtlsRawPublicKeyStore
{
    private readonly ConcurrentDictionary<string, bool> _allowed = new(StringComparer.Ordinal);
    private int _lookups;

    public TestRawPublicKeyStore(params ECDsa[] allowed)
    {
        foreach (var key in allowed)
        {
            Allow(key);
        }
    }

    /// <summary>When set, every look-up throws it.</summary>
    public Exception? Failure { get; set; }

    /// <summary>When set, a look-up waits for its cancellation token (a store that does not answer in time).</summary>
    public bool Hang { get; set; }

    public int Lookups => Volatile.Read(ref _lookups);

    /// <summary>Completed when a hanging look-up saw its token cancelled.</summary>
    public TaskCompletionSource LookupCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Allow(ECDsa key) => _allowed[TestRawPublicKeys.Sha256Hex(key)] = true;

    public async ValueTask<bool> IsAllowedAsync(ReadOnlyMemory<byte> subjectPublicKeyInfo, CancellationToken cancellationToken)
    {
        Interlocked.Increment(ref _lookups);
        if (Failure is { } failure)
        {
            throw failure;
        }

        if (Hang)
        {
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                LookupCancelled.TrySetResult();
                throw;
            }
        }

        return _allowed.ContainsKey(Convert.ToHexStringLower(SHA256.HashData(subjectPublicKeyInfo.Span)));
    }
}
