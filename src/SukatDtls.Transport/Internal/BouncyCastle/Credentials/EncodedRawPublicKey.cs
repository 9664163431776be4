using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Our own raw public key (RFC 7250) that keeps the SubjectPublicKeyInfo bytes it was made from, as
/// <see cref="EncodedCertificate"/> does for X.509: BouncyCastle's <see cref="BcTlsRawKeyCertificate.GetEncoded"/>
/// re-encodes the parsed structure in every handshake, for bytes that never change.
/// </summary>
internal sealed class EncodedRawPublicKey(BcTlsCrypto crypto, byte[] subjectPublicKeyInfo) : BcTlsRawKeyCertificate(crypto, subjectPublicKeyInfo)
{
    private readonly byte[] _encoding = subjectPublicKeyInfo;

    public override byte[] GetEncoded() => _encoding;
}
