using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// A certificate of our own chain that keeps the DER bytes it was read from. BouncyCastle's
/// <see cref="BcTlsCertificate.GetEncoded"/> re-encodes the parsed ASN.1 structure every time it is called, and its
/// Certificate message calls it for every entry of the chain in every handshake: about 6 KB of allocations and the
/// encoding's CPU per handshake (measured with an allocation trace of the echo sample), for bytes that never change.
/// </summary>
/// <remarks>
/// Still a <see cref="BcTlsCertificate"/>, so BouncyCastle's <c>BcTlsCertificate.Convert</c> takes it as it is and
/// never re-parses it. The array is shared by every handshake: BouncyCastle only writes it to the message stream.
/// </remarks>
internal sealed class EncodedCertificate(BcTlsCrypto crypto, byte[] encoding) : BcTlsCertificate(crypto, encoding)
{
    private readonly byte[] _encoding = encoding;

    public override byte[] GetEncoded() => _encoding;
}
