using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Copies of one private key as .NET <see cref="ECDsa"/> or <see cref="RSA"/> objects, one per concurrent signature:
/// .NET does not promise that one key object can sign on several threads at once, and a single object under a lock
/// would cap a listener at one signature at a time. At most
/// <see cref="Environment.ProcessorCount"/> × 2 idle copies are kept; more concurrent signers get temporary ones.
/// </summary>
internal sealed class PlatformKeyPool
{
    private readonly byte[] _pkcs8;
    private readonly bool _ecdsa;
    private readonly ConcurrentQueue<AsymmetricAlgorithm> _idle = new();
    private readonly int _maxIdle = Environment.ProcessorCount * 2;

    public PlatformKeyPool(byte[] pkcs8, bool ecdsa)
    {
        _pkcs8 = pkcs8;
        _ecdsa = ecdsa;

        // Import once now, so that a key .NET cannot load fails when the certificate is configured.
        Return(Create());
    }

    public AsymmetricAlgorithm Rent() => _idle.TryDequeue(out var key) ? key : Create();

    public void Return(AsymmetricAlgorithm key)
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

    private AsymmetricAlgorithm Create()
    {
        AsymmetricAlgorithm key = _ecdsa ? ECDsa.Create() : RSA.Create();
        key.ImportPkcs8PrivateKey(_pkcs8, out _);
        return key;
    }
}
