namespace SukatDtls.Transport.Internal;

/// <summary>The DTLS 1.2 record content types (RFC 5246 §6.2.1, RFC 9146 §4).</summary>
internal enum DtlsContentType : byte
{
    ChangeCipherSpec = 20,
    Alert = 21,
    Handshake = 22,
    ApplicationData = 23,

    /// <summary>A record that carries a Connection ID; its real content type is inside the protected payload (RFC 9146).</summary>
    Tls12Cid = 25,
}
