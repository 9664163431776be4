namespace SukatDtls.Transport.Internal;

/// <summary>
/// Where a server handshake's end goes (the listener): a completed one to the accept queue, a failed one to the logs
/// and metrics. Called once per handshake, on whichever thread ended it.
/// </summary>
internal interface IServerHandshakeOwner
{
    /// <summary>The handshake is done: the connection is established, its place is free, it waits to be accepted.</summary>
    void OnHandshakeCompleted(DtlsConnection connection, HandshakeSlot slot, long started, CompletedHandshake handshake);

    /// <summary>The handshake failed (or the connection was aborted during it): the connection ends, its place is free.</summary>
    void OnHandshakeFailed(DtlsConnection connection, HandshakeSlot slot, long started, Exception error);
}
