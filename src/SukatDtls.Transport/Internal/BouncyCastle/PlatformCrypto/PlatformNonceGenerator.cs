using System.Security.Cryptography;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Handshake nonces (the hello randoms, session IDs, CBC records' explicit IVs during the handshake) straight from the
/// platform's CSPRNG (<see cref="RandomNumberGenerator"/>: OpenSSL's on Linux).
/// </summary>
/// <remarks>
/// BouncyCastle builds a SHA-256 DRBG for every handshake — a digest, which here is a native digest context, seeded
/// from the crypto's <c>SecureRandom</c> and the context's seed material — only to draw a few dozen bytes from it; that
/// was about 1 % of a handshake's CPU in <c>perf</c>. The seed material keeps BouncyCastle's generators of one process
/// apart; the CSPRNG needs none: each call is independent and unpredictable.
/// </remarks>
internal sealed class PlatformNonceGenerator : TlsNonceGenerator
{
    public static readonly PlatformNonceGenerator Instance = new();

    private PlatformNonceGenerator()
    {
    }

    public byte[] GenerateNonce(int size) => RandomNumberGenerator.GetBytes(size);
}
