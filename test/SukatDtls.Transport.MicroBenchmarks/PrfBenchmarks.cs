using System.Security.Cryptography;
using BenchmarkDotNet.Attributes;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.MicroBenchmarks;

/// <summary>
/// The TLS 1.2 PRF work of one full AES-256-GCM-SHA384 handshake — extended master secret, key block, the two
/// Finished — on <see cref="PlatformHmac"/> (a reused per-thread hash context) against .NET's one-shot HMAC, which on
/// OpenSSL 3 looks the MAC and digest up by name at every call.
/// </summary>
[MemoryDiagnoser]
public class PrfBenchmarks
{
    private readonly byte[] _premaster = RandomNumberGenerator.GetBytes(32);
    private readonly byte[] _sessionHash = RandomNumberGenerator.GetBytes(48);
    private readonly byte[] _randoms = RandomNumberGenerator.GetBytes(64);
    private readonly byte[] _master = new byte[48];
    private readonly byte[] _keyBlock = new byte[72];
    private readonly byte[] _verifyData = new byte[12];

    [Benchmark(Baseline = true)]
    public void OneShotHmac()
    {
        OneShotPrf(_premaster, "extended master secret", _sessionHash, _master);
        OneShotPrf(_master, "key expansion", _randoms, _keyBlock);
        OneShotPrf(_master, "client finished", _sessionHash, _verifyData);
        OneShotPrf(_master, "server finished", _sessionHash, _verifyData);
    }

    [Benchmark]
    public void PlatformHmacPrf()
    {
        Tls12Prf.Compute(true, _premaster, "extended master secret", _sessionHash, _master);
        Tls12Prf.Compute(true, _master, "key expansion", _randoms, _keyBlock);
        Tls12Prf.Compute(true, _master, "client finished", _sessionHash, _verifyData);
        Tls12Prf.Compute(true, _master, "server finished", _sessionHash, _verifyData);
    }

    /// <summary>P_SHA384 as <see cref="Tls12Prf"/> computes it, on <see cref="HMACSHA384.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>.</summary>
    private static void OneShotPrf(byte[] secret, string label, byte[] seed, byte[] output)
    {
        Span<byte> buffer = stackalloc byte[48 + label.Length + seed.Length];
        Span<byte> block = stackalloc byte[48];
        var a = buffer[..48];
        var labelSeed = buffer[48..];
        for (int i = 0; i < label.Length; i++)
        {
            labelSeed[i] = (byte)label[i];
        }

        seed.CopyTo(labelSeed[label.Length..]);
        HMACSHA384.HashData(secret, labelSeed, a);
        for (int position = 0; position < output.Length; position += 48)
        {
            HMACSHA384.HashData(secret, buffer, block);
            int take = Math.Min(48, output.Length - position);
            block[..take].CopyTo(output.AsSpan(position));
            if (position + take < output.Length)
            {
                HMACSHA384.HashData(secret, a, block);
                block.CopyTo(a);
            }
        }
    }
}
