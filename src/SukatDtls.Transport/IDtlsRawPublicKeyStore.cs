namespace SukatDtls.Transport;

/// <summary>
/// Decides which clients may authenticate with a raw public key (RFC 7250) instead of a certificate: the way LwM2M
/// servers and CoAP gateways admit devices that have a key pair but no PKI. The key a device presents is its
/// identity; this store says whether it is one of yours. Called once per full handshake that negotiated a client raw
/// public key, on a handshake thread.
/// </summary>
/// <remarks>
/// The usual fingerprint of a raw public key is the SHA-256 of its SubjectPublicKeyInfo
/// (<c>SHA256.HashData(subjectPublicKeyInfo.Span)</c>; <c>openssl pkey -pubout -outform DER | sha256sum</c> computes the
/// same from a key file). BouncyCastle checks afterwards that the client holds the private key (its CertificateVerify
/// signature); the store only sees the public key. The handler finds the key in
/// <c>IDtlsSessionFeature.PeerRawPublicKey</c>.
/// </remarks>
public interface IDtlsRawPublicKeyStore
{
    /// <summary>Whether the client that presents <paramref name="subjectPublicKeyInfo"/> may connect.</summary>
    /// <param name="subjectPublicKeyInfo">The client's public key as DER-encoded SubjectPublicKeyInfo (RFC 5280 §4.1.2.7), as it was sent.</param>
    /// <param name="cancellationToken">Cancelled when the handshake is abandoned or its time runs out.</param>
    /// <returns>True to accept the key; false refuses the handshake with alert access_denied.</returns>
    ValueTask<bool> IsAllowedAsync(ReadOnlyMemory<byte> subjectPublicKeyInfo, CancellationToken cancellationToken);
}
