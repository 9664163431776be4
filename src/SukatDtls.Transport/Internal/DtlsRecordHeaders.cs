namespace SukatDtls.Transport.Internal;

/// <summary>What the transport reads from DTLS record headers itself, before BouncyCastle.</summary>
internal static class DtlsRecordHeaders
{
    // A DTLS record header (13) plus a handshake message header (12).
    private const int MinClientHelloLength = 25;
    private const byte HandshakeContentType = 22;
    private const byte ClientHelloMessageType = 1;

    /// <summary>A DTLS handshake record of epoch 0 carrying a ClientHello (the start of a new association).</summary>
    public static bool IsClientHello(ReadOnlySpan<byte> datagram) =>
        datagram.Length >= MinClientHelloLength
        && datagram[0] == HandshakeContentType
        && datagram[1] == 0xFE // DTLS major version
        && datagram[3] == 0 && datagram[4] == 0 // epoch 0
        && datagram[13] == ClientHelloMessageType;
}
