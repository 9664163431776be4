namespace SukatDtls.Transport.Internal;

/// <summary>What the transport reads from DTLS record headers itself, before BouncyCastle.</summary>
internal static class DtlsRecordHeaders
{
    // A DTLS record header (13) plus a handshake message header (12).
    private const int MinClientHelloLength = 25;
    private const byte HandshakeContentType = 22;
    private const byte ClientHelloMessageType = 1;

    // Record header (13) + handshake header (12) + client_version (2).
    private const int ClientHelloRandomOffset = 27;
    private const int RandomLength = 32;

    /// <summary>
    /// The ClientHello's random (RFC 5246 §7.4.1.2). A client repeats it in the ClientHello that returns the cookie and in
    /// retransmissions; a restarted client makes a new one.
    /// </summary>
    public static ReadOnlySpan<byte> ClientHelloRandom(ReadOnlySpan<byte> clientHello) =>
        clientHello.Length >= ClientHelloRandomOffset + RandomLength
            ? clientHello.Slice(ClientHelloRandomOffset, RandomLength)
            : [];

    /// <summary>A DTLS handshake record of epoch 0 carrying a ClientHello (the start of a new association).</summary>
    public static bool IsClientHello(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= MinClientHelloLength
        && datagram[0] == HandshakeContentType
        && datagram[1] == 0xFE // DTLS major version
        && datagram[3] == 0 && datagram[4] == 0 // epoch 0
        && datagram[13] == ClientHelloMessageType;
}
