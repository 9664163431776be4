using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>BouncyCastle's X25519 key exchange (RFC 8422 / RFC 7748) on <see cref="OpenSslX25519"/>.</summary>
internal sealed class PlatformX25519Domain(TlsCrypto crypto) : TlsECDomain
{
    public TlsAgreement CreateECDH() => new PlatformX25519Agreement(crypto);
}
