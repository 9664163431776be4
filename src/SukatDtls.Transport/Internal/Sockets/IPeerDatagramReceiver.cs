namespace SukatDtls.Transport.Internal;

/// <summary>What a peer socket's receive loop (<see cref="PeerReceiveEngine"/>) calls when the socket is readable.</summary>
internal interface IPeerDatagramReceiver
{
    /// <summary>
    /// The socket is on a loop (<see cref="PeerReceiveEngine.ReceiveUntilStoppedAsync"/>): store the registration where
    /// whoever closes the socket finds it (with a full fence: an interlocked write) and return whether the socket is
    /// being closed already; then the registration stops at once, since the closer may have looked before it was there.
    /// </summary>
    bool OnRegistered(PeerReceiveRegistration registration);

    /// <summary>
    /// The socket has datagrams or a pending error. Called on the loop's thread, one call at a time per registration:
    /// read with <paramref name="batch"/>, never wait. To finish the pass elsewhere (a full input pipe), call
    /// <see cref="PeerReceiveRegistration.Pause"/> and later <see cref="PeerReceiveRegistration.Resume"/>.
    /// </summary>
    void OnReadable(PeerReceiveRegistration registration, DatagramBatch batch);

    /// <summary><see cref="OnReadable"/> threw: the registration has stopped; the receiver ends what depends on it.</summary>
    void OnReceiveFailed(Exception error);
}
