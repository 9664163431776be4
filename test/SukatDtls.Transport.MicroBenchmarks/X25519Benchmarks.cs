using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.MicroBenchmarks;

/// <summary>
/// The X25519 work of one full handshake — our key pair from random bytes, then the secret with the client's public
/// value — with keys imported on a context kept per thread (OpenSSL 3's <c>EVP_PKEY_fromdata</c>) against
/// <c>EVP_PKEY_new_raw_*_key</c>, which makes a new context (and walks libcrypto's algorithm names) at every call.
/// </summary>
[MemoryDiagnoser]
public class X25519Benchmarks
{
    private readonly byte[] _private = RandomNumberGenerator.GetBytes(OpenSslX25519.KeySize);
    private readonly byte[] _public = new byte[OpenSslX25519.KeySize];
    private readonly byte[] _peerPublic = new byte[OpenSslX25519.KeySize];
    private readonly byte[] _secret = new byte[OpenSslX25519.KeySize];

    [GlobalSetup]
    public void Setup()
    {
        using var peer = OpenSslX25519.CreatePrivateKey(RandomNumberGenerator.GetBytes(OpenSslX25519.KeySize), _peerPublic);
    }

    [Benchmark(Baseline = true)]
    public bool NewRawKeys()
    {
        OpenSslX25519.ImportsOnThreadContext = false;
        return Handshake();
    }

    [Benchmark]
    public bool ImportOnThreadContext()
    {
        OpenSslX25519.ImportsOnThreadContext = true;
        return Handshake();
    }

    private bool Handshake()
    {
        using var key = OpenSslX25519.CreatePrivateKey(_private, _public);
        return OpenSslX25519.TryDerive(key, _peerPublic, _secret);
    }
}
