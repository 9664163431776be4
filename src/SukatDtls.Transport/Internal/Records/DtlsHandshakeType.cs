namespace SukatDtls.Transport.Internal;

/// <summary>The handshake message types the transport looks at itself (RFC 5246 §7.4, RFC 6347 §4.3.2).</summary>
internal enum DtlsHandshakeType : byte
{
    /// <summary>The client's first message; the cookie exchange and a restarted peer are recognised by it.</summary>
    ClientHello = 1,

    /// <summary>Opens the server's flight.</summary>
    ServerHello = 2,

    /// <summary>The server's cookie for a ClientHello (RFC 6347 §4.2.1).</summary>
    HelloVerifyRequest = 3,

    /// <summary>In a client's final flight when the server asked for a certificate.</summary>
    Certificate = 11,

    ServerKeyExchange = 12,

    ServerHelloDone = 14,

    /// <summary>In a client's final flight after its certificate.</summary>
    CertificateVerify = 15,

    /// <summary>In a client's final flight of every full handshake.</summary>
    ClientKeyExchange = 16,

    /// <summary>The last message of each side's last flight (encrypted, epoch 1).</summary>
    Finished = 20,
}
