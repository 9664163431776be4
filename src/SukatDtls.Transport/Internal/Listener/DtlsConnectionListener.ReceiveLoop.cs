using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The listening socket's receiving: on a receive loop of <see cref="PeerReceiveEngine"/> where it runs (the ClientHello
/// is checked and its HelloVerifyRequest sent on the loop's thread, no thread-pool hop per datagram), else an async
/// loop on .NET's socket engine.
/// </summary>
internal sealed partial class DtlsConnectionListener : IPeerDatagramReceiver
{
    // Datagrams one call takes before the loop serves its other sockets (it is called again while more wait).
    private const int DatagramsPerPass = 64;

    // The source of the datagram being dispatched (Dispatch clones what it keeps). Used under _dispatchLock.
    private SocketAddress? _loopFrom;
    private PeerReceiveRegistration? _registration;

    // Set (under _dispatchLock) for the last datagram of a pass that emptied the socket: with nothing else waiting, a
    // verified ClientHello's handshake may compute its first flight on this loop instead of waking a handshake thread.
    // With more waiting (a burst), handshake threads on the other cores take them.
    private bool _mayStartHandshakeOnLoop;

    private Task StartReceiving(Socket socket)
    {
        var engine = _options.UseOwnReceiveLoops ? PeerReceiveEngine.Shared : null;
        return engine is null ? ReceiveLoopAsync(socket) : ReceiveOnEngineAsync(engine, socket);
    }

    /// <summary>Stops receiving once the listening socket is closed (unbinding).</summary>
    private void StopReceiving()
    {
        // A full fence between the caller's _unbound write and this read; the registering side fences the other way.
        Interlocked.CompareExchange(ref _registration, null, null)?.Stop();
    }

    private async Task ReceiveOnEngineAsync(PeerReceiveEngine engine, Socket socket)
    {
        _loopFrom = new SocketAddress(socket.AddressFamily);
        await engine.ReceiveUntilStoppedAsync(socket, this).ConfigureAwait(false);

        // The registration's end runs this on the thread that stopped it, which may be the loop's (a failed receive):
        // unbinding, which waits for this task, goes on from the thread pool, never on a receive loop.
        await Task.Yield();
    }

    bool IPeerDatagramReceiver.OnRegistered(PeerReceiveRegistration registration)
    {
        Interlocked.Exchange(ref _registration, registration);
        return _unbound;
    }

    void IPeerDatagramReceiver.OnReadable(PeerReceiveRegistration registration, DatagramBatch batch)
    {
        if (_unbound)
        {
            registration.Stop();
            return;
        }

        try
        {
            int datagrams = 0;
            int errors = 0;

            // Where each datagram was sent to (a wildcard listener's address; empty: not known).
            Span<byte> destination = stackalloc byte[16];
            while (datagrams < DatagramsPerPass)
            {
                int received = batch.Receive(registration.Handle, out SocketError error);
                if (received < 0)
                {
                    if (HandshakeTransport.IsUnreachable(error) && ++errors <= DatagramsPerPass)
                    {
                        // An ICMP error for a HelloVerifyRequest we sent: per-datagram, not fatal.
                        continue;
                    }

                    throw new SocketException((int)error);
                }

                lock (_dispatchLock)
                {
                    for (int i = 0; i < received; i++)
                    {
                        if (batch.IsTruncated(i))
                        {
                            // Longer than any DTLS record we take: not a ClientHello, and no known peer's record.
                            continue;
                        }

                        batch.CopySource(i, _loopFrom!);
                        _gate!.AnswerFrom(destination[..batch.CopyDestination(i, destination)]);
                        _mayStartHandshakeOnLoop = i == received - 1 && received < batch.Capacity;
                        DispatchCopy(batch.Datagram(i), _loopFrom!);
                    }

                    _mayStartHandshakeOnLoop = false;
                    _gate!.AnswerFrom([]);
                }

                datagrams += received;
                if (received < batch.Capacity)
                {
                    return;
                }
            }
        }
        catch (ObjectDisposedException)
        {
            // Unbound: the socket closed under the pass.
            registration.Stop();
        }
    }

    void IPeerDatagramReceiver.OnReceiveFailed(Exception error) => DtlsLog.ListenerFailed(_logger, _boundEndPoint, error);
}
