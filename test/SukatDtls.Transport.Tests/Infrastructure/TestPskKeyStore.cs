using System.Collections.Concurrent;
using System.Text;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>An in-memory <see cref="IDtlsPskKeyStore"/> whose behaviour a test can change: fail, or never answer.</summary>
internal sealed class TestPskKeyStore : IDtlsPskKeyStore
{
    public const string Identity = "device-1";

    /// <summary>The key of <see cref="Identity"/>: 16 bytes, as CoAP devices typically have.</summary>
    public static readonly byte[] Key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");

    private readonly ConcurrentDictionary<string, byte[]> _keys = new() { [Identity] = Key };
    private int _lookups;

    /// <summary>When set, every look-up throws it.</summary>
    public Exception? Failure { get; set; }

    /// <summary>When set, a look-up waits for its cancellation token (a store that does not answer in time).</summary>
    public bool Hang { get; set; }

    public int Lookups => Volatile.Read(ref _lookups);

    /// <summary>Cancelled tokens seen by hanging look-ups.</summary>
    public TaskCompletionSource LookupCancelled { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Add(string identity, byte[] key) => _keys[identity] = key;

    public async ValueTask<byte[]?> GetKeyAsync(ReadOnlyMemory<byte> identity, CancellationToken cancellationToken)
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

        // The same array every time, on purpose: the transport must not let BouncyCastle zero it.
        return _keys.TryGetValue(Encoding.UTF8.GetString(identity.Span), out var key) ? key : null;
    }
}
