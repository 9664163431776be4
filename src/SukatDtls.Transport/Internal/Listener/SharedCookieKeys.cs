using System.Buffers.Binary;
using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Cookie keys that every node with the same secret derives alike (<see cref="DtlsTransportOptions.CookieSecret"/>):
/// the key of period <c>p</c> (Unix time divided by the rotation interval) is HMAC-SHA256(secret, label || interval ||
/// p). Nodes need no coordination to rotate in step, only clocks that agree and the same interval.
/// </summary>
internal sealed class SharedCookieKeys(byte[] secret, TimeSpan interval)
{
    private static readonly byte[] s_label = "SukatDtls cookie key v1"u8.ToArray();

    private readonly byte[] _secret = (byte[])secret.Clone();
    private readonly long _intervalMillis = Math.Max(1, (long)interval.TotalMilliseconds);

    /// <summary>The number of the rotation period that <paramref name="now"/> falls in.</summary>
    public long PeriodAt(DateTimeOffset now) => now.ToUnixTimeMilliseconds() / _intervalMillis;

    /// <summary>The period's key, for HMAC-SHA256: the same on every node with the secret.</summary>
    public byte[] KeyOf(long period)
    {
        Span<byte> input = stackalloc byte[s_label.Length + 16];
        s_label.CopyTo(input);
        BinaryPrimitives.WriteInt64BigEndian(input[s_label.Length..], _intervalMillis);
        BinaryPrimitives.WriteInt64BigEndian(input[(s_label.Length + 8)..], period);
        return HMACSHA256.HashData(_secret, input);
    }

    /// <summary>
    /// BouncyCastle's verifier with the period's key. <see cref="DtlsVerifier"/> takes its key from its crypto's random
    /// generator and has no other way in, so it gets a crypto whose generator yields this key once, and refuses any
    /// further use (a key must never stand in for randomness).
    /// </summary>
    public DtlsVerifier CreateVerifier(long period)
    {
        var crypto = new PlatformTlsCrypto(new SecureRandom(new OneKeyGenerator(KeyOf(period))));
        return new DtlsVerifier(crypto);
    }

    /// <summary>A "random" generator that hands out one given key, once, then throws.</summary>
    private sealed class OneKeyGenerator(byte[] key) : IRandomGenerator
    {
        private byte[]? _key = key;

        public void AddSeedMaterial(byte[] seed)
        {
        }

        public void AddSeedMaterial(ReadOnlySpan<byte> seed)
        {
        }

        public void AddSeedMaterial(long seed)
        {
        }

        public void NextBytes(byte[] bytes) => NextBytes(bytes.AsSpan());

        public void NextBytes(byte[] bytes, int start, int len) => NextBytes(bytes.AsSpan(start, len));

        public void NextBytes(Span<byte> bytes)
        {
            var key = Interlocked.Exchange(ref _key, null)
                ?? throw new InvalidOperationException("A cookie key generator was asked for random bytes a second time.");
            if (bytes.Length != key.Length)
            {
                throw new InvalidOperationException($"A cookie key has {key.Length} bytes; {bytes.Length} were asked for.");
            }

            key.CopyTo(bytes);
            CryptographicOperations.ZeroMemory(key);
        }
    }
}
