namespace SukatDtls.Transport.Internal;

/// <summary>What the listener reads from a datagram that may start a new association: is it a ClientHello, and its random.</summary>
internal static class ClientHelloRecord
{
    // client_version (2) precedes the random in the ClientHello body (RFC 5246 §7.4.1.2).
    private const int RandomOffset = 2;
    private const int RandomLength = 32;

    /// <summary>Whether the datagram's first record is an epoch-0 handshake record whose first fragment is a ClientHello.</summary>
    public static bool IsClientHello(ReadOnlySpan<byte> datagram) =>
        TryReadFirstFragment(datagram, out var fragment) && fragment.MessageType == DtlsHandshakeType.ClientHello;

    /// <summary>Whether the datagram's first record is a ClientHello fragment that is not the whole message.</summary>
    public static bool IsFragment(ReadOnlySpan<byte> datagram) =>
        TryReadFirstFragment(datagram, out var fragment) && fragment.MessageType == DtlsHandshakeType.ClientHello && !fragment.IsWholeMessage;

    /// <summary>
    /// The ClientHello's random (RFC 5246 §7.4.1.2), or empty when the datagram does not start with the part of a
    /// ClientHello that holds it. A client repeats its random in the ClientHello that returns the cookie and in
    /// retransmissions; a restarted client makes a new one.
    /// </summary>
    public static ReadOnlySpan<byte> Random(ReadOnlySpan<byte> datagram) =>
        TryReadFirstFragment(datagram, out var fragment) && fragment.MessageType == DtlsHandshakeType.ClientHello
            && fragment.FragmentOffset == 0 && fragment.Body.Length >= RandomOffset + RandomLength
            ? fragment.Body.Slice(RandomOffset, RandomLength)
            : [];

    private static bool TryReadFirstFragment(ReadOnlySpan<byte> datagram, out DtlsHandshakeFragment fragment)
    {
        fragment = default;
        return DtlsRecord.TryRead(datagram, out var record)
            && record.ContentType == DtlsContentType.Handshake
            && record.Epoch == 0
            && DtlsHandshakeFragment.TryRead(record.Fragment, out fragment);
    }
}
