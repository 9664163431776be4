using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Copies of one private key, one per concurrent signature: ECDSA keys in the system libcrypto with a signing context
/// kept (<see cref="OpenSslEcdsaKey"/>) where it works, else .NET <see cref="ECDsa"/> objects; RSA keys as .NET
/// <see cref="RSA"/> objects. Neither promises that one key object can sign on several threads at once, and a single
/// object under a lock would cap a listener at one signature at a time. At most
/// <see cref="Environment.ProcessorCount"/> × 2 idle copies are kept; more concurrent signers get temporary ones.
/// </summary>
internal sealed class PlatformKeyPool
{
    private readonly byte[] _pkcs8;
    private readonly bool _ecdsa;
    private readonly ConcurrentQueue<IDisposable> _idle = new();
    private readonly int _maxIdle = Environment.ProcessorCount * 2;

    public PlatformKeyPool(byte[] pkcs8, bool ecdsa)
    {
        _pkcs8 = pkcs8;
        _ecdsa = ecdsa;

        // Import once now, so that a key .NET cannot load fails when the certificate is configured.
        Return(Create());
    }

    /// <summary>An <see cref="OpenSslEcdsaKey"/>, <see cref="ECDsa"/> or <see cref="RSA"/> for the caller alone until <see cref="Return"/>.</summary>
    public IDisposable Rent() => _idle.TryDequeue(out var key) ? key : Create();

    public void Return(IDisposable key)
    {
        if (_idle.Count < _maxIdle)
        {
            _idle.Enqueue(key);
        }
        else
        {
            key.Dispose();
        }
    }

    private IDisposable Create()
    {
        AsymmetricAlgorithm key = _ecdsa ? ECDsa.Create() : RSA.Create();
        key.ImportPkcs8PrivateKey(_pkcs8, out _);
        if (key is ECDsa ecdsa && OpenSslEcdsaKey.TryCreate(_pkcs8, verifier: ecdsa) is { } native)
        {
            // .NET's copy served to check libcrypto's first signature.
            key.Dispose();
            return native;
        }

        return key;
    }
}
