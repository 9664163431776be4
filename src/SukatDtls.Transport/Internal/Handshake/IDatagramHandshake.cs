namespace SukatDtls.Transport.Internal;

/// <summary>
/// A server handshake that runs between datagrams (<see cref="Ecdhe.ReceiveLoopHandshake"/>): the connection hands it
/// the peer's datagrams from its receive loop until the record layer takes over, and tells it when it is aborted.
/// </summary>
internal interface IDatagramHandshake
{
    /// <summary>
    /// A datagram from the peer (on its receive loop, under the connection's receive gate). Returns how many of its
    /// bytes the handshake took: all, unless the handshake ended on a record before the datagram's end; the rest is
    /// then the record layer's (published by then).
    /// </summary>
    int OnDatagram(Span<byte> datagram);

    /// <summary>The connection is going away (evicted, aborted, the listener unbound): the handshake ends now.</summary>
    void OnConnectionAborted();
}
