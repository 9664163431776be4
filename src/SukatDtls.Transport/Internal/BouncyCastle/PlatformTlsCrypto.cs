using System.Security.Cryptography;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// BouncyCastle's TLS crypto with the record ciphers moved to the platform: AES-GCM and AES-CCM (all the AES suites
/// we offer) run on .NET's <see cref="AesGcm"/> and <see cref="AesCcm"/>, that is on OpenSSL, CNG or CommonCrypto.
/// </summary>
/// <remarks>
/// Measured on the benchmark machine: BouncyCastle's managed GCM keeps two 4 KiB multiplication tables per connection
/// (one per direction) and costs several microseconds per 1,000-byte record; the platform cipher keeps its key
/// schedule in a native context and uses AES-NI and carry-less multiplication. Everything else — the handshake
/// protocol, key agreement, PRF — stays BouncyCastle's. Where the platform lacks a cipher the BouncyCastle one is used.
/// </remarks>
internal class PlatformTlsCrypto(SecureRandom random) : BcTlsCrypto(random)
{
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
