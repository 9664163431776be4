using System.Security.Cryptography;
using Org.BouncyCastle.Crypto.Prng;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One cookie key: its bytes, which answer a first ClientHello without BouncyCastle (<see cref="ClientHelloCookie"/>),
/// and BouncyCastle's <see cref="DtlsVerifier"/> with the same key, which checks the cookie a ClientHello returns and
/// makes the request its handshake goes on from.
/// </summary>
internal sealed class CookieKey
{
    private CookieKey(byte[] key, DtlsVerifier verifier)
    {
        Key = key;
        Verifier = verifier;
    }

    /// <summary>The HMAC-SHA256 key (32 bytes).</summary>
    public byte[] Key { get; }

    public DtlsVerifier Verifier { get; }

    /// <summary>A fresh random key (a listener without a shared cookie secret).</summary>
    public static CookieKey Random() => From(RandomNumberGenerator.GetBytes(32));

    /// <summary>
    /// The verifier of <paramref name="key"/>. <see cref="DtlsVerifier"/> takes its key from its crypto's random
    /// generator and has no other way in, so it gets a crypto whose generator yields this key once, and refuses any
    /// further use (a key must never stand in for randomness).
    /// </summary>
    public static CookieKey From(byte[] key)
    {
        var crypto = new PlatformTlsCrypto(new SecureRandom(new OneKeyGenerator((byte[])key.Clone())));
        return new CookieKey(key, new DtlsVerifier(crypto));
    }

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
