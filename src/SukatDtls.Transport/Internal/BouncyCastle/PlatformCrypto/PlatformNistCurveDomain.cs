using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// BouncyCastle's NIST-curve ECDH (P-256, P-384, P-521; the CoAP profile's curve), whose shared secret becomes a
/// <see cref="PlatformTlsSecret"/>, so the master secret and what follows it use <see cref="Tls12Prf"/> as with X25519.
/// </summary>
internal sealed class PlatformNistCurveDomain(BcTlsCrypto crypto, TlsECConfig config) : BcTlsECDomain(crypto, config)
{
    public override BcTlsSecret CalculateECDHAgreement(ECPrivateKeyParameters privateKey, ECPublicKeyParameters publicKey)
    {
        // Extract hands over BouncyCastle's buffer and destroys its secret: no copy of the key material is left behind.
        var secret = base.CalculateECDHAgreement(privateKey, publicKey);
        return new PlatformTlsSecret(m_crypto, secret.Extract());
    }
}
