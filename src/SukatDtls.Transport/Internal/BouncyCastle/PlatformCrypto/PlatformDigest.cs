using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// A BouncyCastle <see cref="IDigest"/> computed by .NET's <see cref="IncrementalHash"/> (OpenSSL, CNG, CommonCrypto).
/// BouncyCastle's TLS code builds everything that hashes on <c>CreateDigest</c>: the handshake transcript, the PRF's
/// HMACs, the Finished messages; its managed SHA-2 is many times slower than the platform's (docs/benchmarks.md).
/// </summary>
internal sealed class PlatformDigest : IDigest, IDisposable
{
    private readonly IncrementalHash _hash;
    private readonly int _cryptoHashAlgorithm;

    private PlatformDigest(int cryptoHashAlgorithm, IncrementalHash hash, string algorithmName, int digestSize, int blockSize)
    {
        _cryptoHashAlgorithm = cryptoHashAlgorithm;
        _hash = hash;
        AlgorithmName = algorithmName;
        DigestSize = digestSize;
        BlockSize = blockSize;
    }

    public string AlgorithmName { get; }

    private int DigestSize { get; }

    private int BlockSize { get; }

    /// <summary>A digest for BouncyCastle's <see cref="CryptoHashAlgorithm"/>, or null when the platform does not have it.</summary>
    public static PlatformDigest? TryCreate(int cryptoHashAlgorithm)
    {
        var (name, algorithmName, digestSize, blockSize) = cryptoHashAlgorithm switch
        {
            CryptoHashAlgorithm.sha256 => (HashAlgorithmName.SHA256, "SHA-256", 32, 64),
            CryptoHashAlgorithm.sha384 => (HashAlgorithmName.SHA384, "SHA-384", 48, 128),
            CryptoHashAlgorithm.sha512 => (HashAlgorithmName.SHA512, "SHA-512", 64, 128),
            CryptoHashAlgorithm.sha1 => (HashAlgorithmName.SHA1, "SHA-1", 20, 64),
            _ => (default, "", 0, 0),
        };

        return digestSize == 0
            ? null
            : new PlatformDigest(cryptoHashAlgorithm, IncrementalHash.CreateHash(name), algorithmName, digestSize, blockSize);
    }

    /// <summary>A copy with the same state, for BouncyCastle's transcript-hash forks.</summary>
    public PlatformDigest Clone() => new(_cryptoHashAlgorithm, _hash.Clone(), AlgorithmName, DigestSize, BlockSize);

    public int GetDigestSize() => DigestSize;

    public int GetByteLength() => BlockSize;

    public void Update(byte input)
    {
        ReadOnlySpan<byte> one = [input];
        _hash.AppendData(one);
    }

    public void BlockUpdate(byte[] input, int inOff, int inLen) => _hash.AppendData(input, inOff, inLen);

    public void BlockUpdate(ReadOnlySpan<byte> input) => _hash.AppendData(input);

    public int DoFinal(byte[] output, int outOff) => DoFinal(output.AsSpan(outOff));

    public int DoFinal(Span<byte> output) => _hash.GetHashAndReset(output);

    public void Reset()
    {
        Span<byte> discard = stackalloc byte[DigestSize];
        _hash.GetHashAndReset(discard);
    }

    public void Dispose() => _hash.Dispose();
}
