using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using HashAlgorithm = Org.BouncyCastle.Tls.HashAlgorithm;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Handshake signatures (ServerKeyExchange, client CertificateVerify) made by .NET's <see cref="ECDsa"/> or
/// <see cref="RSA"/>, which run on the platform's crypto library (OpenSSL on Linux), instead of BouncyCastle's managed
/// arithmetic: the signature is one of the two public-key operations of every full handshake, and the platform's is
/// several times faster (figures in docs/benchmarks.md). BouncyCastle hashes the signed data itself
/// (DTLS 1.2 signs a hash) and hands the hash over; ECDSA returns the DER signature TLS 1.2 carries, RSA signs
/// PKCS #1 v1.5 over the DigestInfo of that hash (the <c>rsa_pkcs1_*</c> schemes, the only RSA ones we choose).
/// </summary>
internal sealed class PlatformSigner(PlatformKeyPool keys, Certificate certificate, SignatureAndHashAlgorithm algorithm)
    : TlsCredentialedSigner
{
    public Certificate Certificate { get; } = certificate;

    public SignatureAndHashAlgorithm SignatureAndHashAlgorithm { get; } = algorithm;

    /// <summary>Whether <paramref name="algorithm"/> is one this signer makes (ECDSA, or RSA PKCS #1 v1.5, with SHA-2).</summary>
    public static bool Supports(SignatureAndHashAlgorithm algorithm) =>
        HashName(algorithm.Hash) is not null && algorithm.Signature is SignatureAlgorithm.ecdsa or SignatureAlgorithm.rsa;

    public byte[] GenerateRawSignature(byte[] hash)
    {
        var key = keys.Rent();
        try
        {
            return key switch
            {
                OpenSslEcdsaKey native when SignatureAndHashAlgorithm.Signature == SignatureAlgorithm.ecdsa => native.Sign(hash),
                ECDsa ecdsa when SignatureAndHashAlgorithm.Signature == SignatureAlgorithm.ecdsa => SignEcdsa(ecdsa, hash),
                RSA rsa when SignatureAndHashAlgorithm.Signature == SignatureAlgorithm.rsa =>
                    rsa.SignHash(hash, HashName(SignatureAndHashAlgorithm.Hash)!.Value, RSASignaturePadding.Pkcs1),
                _ => throw new TlsFatalAlert(AlertDescription.internal_error,
                    $"a {key.GetType().Name} key cannot sign with {SignatureAndHashAlgorithm}"),
            };
        }
        finally
        {
            keys.Return(key);
        }
    }

    private static byte[] SignEcdsa(ECDsa ecdsa, byte[] hash)
    {
        Span<byte> fixedSize = stackalloc byte[132]; // r ‖ s of the largest curve, P-521
        if (!ecdsa.TrySignHash(hash, fixedSize, DSASignatureFormat.IeeeP1363FixedFieldConcatenation, out int written))
        {
            throw new TlsFatalAlert(AlertDescription.internal_error, "the ECDSA signature did not fit 132 bytes");
        }

        return EcdsaSignatureDer.FromFixedSize(fixedSize[..written]);
    }

    /// <summary>Null: BouncyCastle then computes the hash and calls <see cref="GenerateRawSignature"/>.</summary>
    public TlsStreamSigner? GetStreamSigner() => null;

    private static HashAlgorithmName? HashName(short hash) => hash switch
    {
        HashAlgorithm.sha256 => HashAlgorithmName.SHA256,
        HashAlgorithm.sha384 => HashAlgorithmName.SHA384,
        HashAlgorithm.sha512 => HashAlgorithmName.SHA512,
        _ => null,
    };
}
