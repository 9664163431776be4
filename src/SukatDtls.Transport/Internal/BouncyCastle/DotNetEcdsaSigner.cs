using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// ECDSA signatures for the handshake (ServerKeyExchange, client CertificateVerify) made by .NET's <see cref="ECDsa"/>,
/// which runs on the platform's crypto library (OpenSSL on Linux), instead of BouncyCastle's managed EC arithmetic:
/// the signature is one of the two public-key operations of every full ECDHE-ECDSA handshake. BouncyCastle hashes the
/// signed data itself (DTLS 1.2 signs a hash) and hands it over; the result is the DER signature TLS 1.2 carries.
/// </summary>
internal sealed class DotNetEcdsaSigner(ECDsa key, Lock keyLock, Certificate certificate, SignatureAndHashAlgorithm algorithm)
    : TlsCredentialedSigner
{
    public Certificate Certificate { get; } = certificate;

    public SignatureAndHashAlgorithm SignatureAndHashAlgorithm { get; } = algorithm;

    public byte[] GenerateRawSignature(byte[] hash)
    {
        // One key object serves every handshake thread of the listener; .NET does not promise concurrent use.
        lock (keyLock)
        {
            return key.SignHash(hash, DSASignatureFormat.Rfc3279DerSequence);
        }
    }

    /// <summary>Null: BouncyCastle then computes the hash and calls <see cref="GenerateRawSignature"/>.</summary>
    public TlsStreamSigner? GetStreamSigner() => null;
}
