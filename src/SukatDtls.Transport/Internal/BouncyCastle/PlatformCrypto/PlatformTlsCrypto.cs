using System.Security.Cryptography;
using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// BouncyCastle's TLS crypto with the hot primitives moved to the platform: AES-GCM and AES-CCM (all the AES suites
/// we offer) run on .NET's <see cref="AesGcm"/> and <see cref="AesCcm"/>, SHA-1/SHA-2 (transcript, PRF, HMAC) on
/// <see cref="IncrementalHash"/> (<see cref="PlatformDigest"/>) — that is on OpenSSL, CNG or CommonCrypto — and
/// X25519 on the system's libcrypto where there is one (<see cref="OpenSslX25519"/>); handshake nonces from the
/// platform's CSPRNG (<see cref="PlatformNonceGenerator"/>).
/// </summary>
/// <remarks>
/// BouncyCastle's managed GCM keeps two 4 KiB multiplication tables per connection (one per direction); the platform
/// cipher keeps its key schedule in a native context and uses AES-NI and carry-less multiplication. Everything else —
/// the handshake protocol, NIST-curve agreement, the PRF's construction — stays BouncyCastle's (.NET's ECDiffieHellman
/// was slower than BouncyCastle's X25519). Where the platform lacks a primitive the BouncyCastle one is used. The
/// measurements behind each choice are in docs/benchmarks.md.
/// </remarks>
internal class PlatformTlsCrypto(SecureRandom random) : BcTlsCrypto(random)
{
    /// <summary>Who computes X25519 here, for the log.</summary>
    public static string X25519Provider => OpenSslX25519.IsAvailable ? $"the system libcrypto ({OpenSslX25519.LibraryName})" : "BouncyCastle";

    /// <summary>Who computes the AES record ciphers here, for the log.</summary>
    public static string AeadProvider => AesGcm.IsSupported && AesCcm.IsSupported ? ".NET (AesGcm, AesCcm)" : "BouncyCastle";

    public override IDigest CreateDigest(int cryptoHashAlgorithm) =>
        PlatformDigest.TryCreate(cryptoHashAlgorithm) ?? base.CreateDigest(cryptoHashAlgorithm);

    /// <summary>Secrets whose TLS 1.2 PRF is <see cref="Tls12Prf"/> (<see cref="PlatformTlsSecret"/>).</summary>
    public override TlsNonceGenerator CreateNonceGenerator(byte[] additionalSeedMaterial) => PlatformNonceGenerator.Instance;

    public override TlsNonceGenerator CreateNonceGenerator(ReadOnlySpan<byte> additionalSeedMaterial) => PlatformNonceGenerator.Instance;

    public override TlsSecret CreateSecret(byte[] data) => new PlatformTlsSecret(this, (byte[])data.Clone());

    public override IDigest CloneDigest(int cryptoHashAlgorithm, IDigest digest) =>
        digest is PlatformDigest platform ? platform.Clone() : base.CloneDigest(cryptoHashAlgorithm, digest);

    public override TlsECDomain CreateECDomain(TlsECConfig ecConfig) => ecConfig.NamedGroup switch
    {
        NamedGroup.x25519 when OpenSslX25519.IsAvailable => new PlatformX25519Domain(this),
        NamedGroup.secp256r1 or NamedGroup.secp384r1 or NamedGroup.secp521r1 => new PlatformNistCurveDomain(this, ecConfig),
        _ => base.CreateECDomain(ecConfig),
    };

    protected override TlsAeadCipher CreateCipher_Aes_Gcm(TlsCryptoParameters cryptoParams, int cipherKeySize, int macSize)
    {
        if (!AesGcm.IsSupported)
        {
            return base.CreateCipher_Aes_Gcm(cryptoParams, cipherKeySize, macSize);
        }

        return new TlsAeadCipher(cryptoParams, PlatformAeadCipher.Gcm(encrypting: true, macSize), PlatformAeadCipher.Gcm(encrypting: false, macSize),
            cipherKeySize, macSize, TlsAeadCipher.AEAD_GCM);
    }

    protected override TlsAeadCipher CreateCipher_Aes_Ccm(TlsCryptoParameters cryptoParams, int cipherKeySize, int macSize)
    {
        if (!AesCcm.IsSupported)
        {
            return base.CreateCipher_Aes_Ccm(cryptoParams, cipherKeySize, macSize);
        }

        return new TlsAeadCipher(cryptoParams, PlatformAeadCipher.Ccm(encrypting: true, macSize), PlatformAeadCipher.Ccm(encrypting: false, macSize),
            cipherKeySize, macSize, TlsAeadCipher.AEAD_CCM);
    }
}
