namespace SukatDtls.Transport.Internal;

/// <summary>The AEAD constructions of the DTLS 1.2 suites the transport offers.</summary>
internal enum RecordAeadKind
{
    /// <summary>AES-GCM (RFC 5288): 4-byte implicit salt, 8-byte explicit nonce, 16-byte tag.</summary>
    AesGcm,

    /// <summary>AES-CCM (RFC 6655, RFC 7251): as GCM, with a 16- or 8-byte tag.</summary>
    AesCcm,

    /// <summary>ChaCha20-Poly1305 (RFC 7905): a 12-byte IV XOR the sequence number, no explicit nonce, 16-byte tag.</summary>
    ChaCha20Poly1305,
}
