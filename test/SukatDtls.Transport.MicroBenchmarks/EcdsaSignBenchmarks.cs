using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.MicroBenchmarks;

/// <summary>
/// The one signature of a full ECDHE-ECDSA handshake (P-256, the DER TLS 1.2 carries): .NET's
/// <see cref="ECDsa.TrySignHash(ReadOnlySpan{byte}, Span{byte}, DSASignatureFormat, out int)"/> (a new libcrypto context
/// per signature) re-encoded as DER, against <see cref="OpenSslEcdsaKey"/> (a signing context kept).
/// </summary>
[MemoryDiagnoser]
public class EcdsaSignBenchmarks : IDisposable
{
    private readonly ECDsa _key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
    private readonly byte[] _hash = SHA256.HashData("ServerKeyExchange"u8);
    private OpenSslEcdsaKey? _native;

    [GlobalSetup]
    public void Setup() => _native = OpenSslEcdsaKey.TryCreate(_key.ExportPkcs8PrivateKey(), _key)
        ?? throw new InvalidOperationException("libcrypto is not usable here");

    [Benchmark(Baseline = true)]
    public byte[] DotNetECDsa()
    {
        Span<byte> fixedSize = stackalloc byte[132];
        _key.TrySignHash(_hash, fixedSize, DSASignatureFormat.IeeeP1363FixedFieldConcatenation, out int written);
        return EcdsaSignatureDer.FromFixedSize(fixedSize[..written]);
    }

    [Benchmark]
    public byte[] KeptContext() => _native!.Sign(_hash);

    public void Dispose()
    {
        _native?.Dispose();
        _key.Dispose();
        GC.SuppressFinalize(this);
    }
}
