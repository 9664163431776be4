using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// A TLS secret whose TLS 1.2 PRF runs on <see cref="Tls12Prf"/>, and whose derived secrets (master secret, key block,
/// Finished) are of this kind again. <see cref="PlatformTlsCrypto.CreateSecret"/> makes them (the X25519 and PSK
/// pre-master secrets, resumed sessions' master secrets), and <see cref="PlatformNistCurveDomain"/> for the NIST curves.
/// </summary>
internal sealed class PlatformTlsSecret(BcTlsCrypto crypto, byte[] data) : BcTlsSecret(crypto, data)
{
    public override TlsSecret DeriveUsingPrf(int prfAlgorithm, string label, byte[] seed, int length) =>
        DeriveUsingPrf(prfAlgorithm, label.AsSpan(), seed.AsSpan(), length);

    public override TlsSecret DeriveUsingPrf(int prfAlgorithm, ReadOnlySpan<char> label, ReadOnlySpan<byte> seed, int length)
    {
        if (prfAlgorithm is not (PrfAlgorithm.tls_prf_sha256 or PrfAlgorithm.tls_prf_sha384))
        {
            return base.DeriveUsingPrf(prfAlgorithm, label, seed, length);
        }

        // BouncyCastle's own locks the secret for the derivation too: Destroy may race with it.
        lock (this)
        {
            CheckAlive();
            byte[] output = new byte[length];
            Tls12Prf.Compute(prfAlgorithm == PrfAlgorithm.tls_prf_sha384, m_data, label, seed, output);
            return new PlatformTlsSecret(m_crypto, output);
        }
    }
}
