using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// When ICMP destination unreachable ends a client's handshake: nothing listens on the server's UDP port (port
/// unreachable, "connection refused"), or a firewall rejects the datagrams (host or network prohibited).
/// </summary>
/// <remarks>
/// <para>
/// A connected UDP socket reports each such ICMP once, to its next receive or send, whichever comes first: the
/// handshake thread's own reads (<see cref="ReadSocket"/>) and sends (<see cref="SendToPeer"/>) both tell
/// <see cref="OnUnreachable"/>. (Linux reports port
/// unreachable and the "prohibited" kinds of host and network unreachable; a plain host unreachable it keeps to itself.)
/// The rule:
/// </para>
/// <list type="bullet">
/// <item>One report never ends the handshake. It may concern a datagram that raced a server still starting, arrive late
/// for an earlier use of the port, or be forged; RFC 6347's retransmission could still succeed.</item>
/// <item>Instead the flight sent last is resent <see cref="UnreachableConfirmationDelay"/> after the first report —
/// sooner than the retransmission timeout, which BouncyCastle keeps (its own resend, when it comes first, serves as
/// well).</item>
/// <item>A report that comes after a datagram left at least <see cref="UnreachableConfirmationDelay"/> after the first
/// report, with no datagram from the server since that first report, ends the handshake with
/// <see cref="DestinationUnreachableException"/> (the error of that last report): a closed port is reported about a
/// quarter of a second (plus a round trip) after the first ICMP, not at the handshake timeout.</item>
/// <item>Any datagram from the server clears the suspicion: something listens.</item>
/// </list>
/// <para>
/// No busy loop: reports come once per ICMP, and the confirming resend goes out at most once per
/// <see cref="UnreachableConfirmationDelay"/>. Only a client's transport follows the rule. A server keeps a handshake
/// going whatever ICMP port unreachable says about its client (the connection counts it): a client's address and port
/// are easy to learn, so a forged ICMP would otherwise end handshakes for anyone, while a client that is really gone
/// costs a handshake place only until <c>HandshakeTimeout</c>, or until a new peer needs the place.
/// </para>
/// </remarks>
internal sealed partial class HandshakeTransport
{
    /// <summary>How long after a first ICMP destination unreachable the flight is resent to confirm it.</summary>
    internal static readonly TimeSpan UnreachableConfirmationDelay = TimeSpan.FromMilliseconds(250);

    private const int NotSuspected = 0;
    private const int Suspected = 1;
    private const int Confirming = 2;
    private const int Unreachable = 3;

    private readonly bool _unreachableEndsHandshake;

    // One of the states above (written under _lock; read without it to drop sends once unreachable).
    private int _unreachable;

    // How the confirming report came (under _lock; meaningful once Unreachable).
    private SocketError _unreachableError;

    // Environment.TickCount64 of the first report of the current suspicion, and when the next confirming resend is due
    // (under _lock).
    private long _suspectedSince;
    private long _resendAt;

    // Handshake thread only (clients): the datagrams of the flight sent last, for the confirming resend.
    private readonly List<byte[]> _lastFlight = [];

    /// <summary>
    /// Why the handshake ended when the server could not be reached (<see cref="SocketError.ConnectionRefused"/>: nothing
    /// listens); null otherwise.
    /// </summary>
    public SocketError? UnreachableError
    {
        get
        {
            lock (_lock)
            {
                return _unreachable == Unreachable ? _unreachableError : null;
            }
        }
    }

    /// <summary>Whether <paramref name="error"/>, reported by a connected UDP socket, is an ICMP destination unreachable.</summary>
    public static bool IsUnreachable(SocketError error) =>
        error is SocketError.ConnectionRefused or SocketError.HostUnreachable or SocketError.NetworkUnreachable;

    /// <summary>
    /// The socket reported ICMP destination unreachable (<paramref name="error"/>, see <see cref="IsUnreachable"/>) during
    /// the handshake. A client's handshake ends by the rule above; a server's transport ignores it.
    /// </summary>
    private void OnUnreachable(SocketError error)
    {
        if (!_unreachableEndsHandshake)
        {
            return;
        }

        lock (_lock)
        {
            if (_closed || _unreachable == Unreachable)
            {
                return;
            }

            if (_unreachable == Confirming)
            {
                _unreachable = Unreachable;
                _unreachableError = error;
            }
            else if (_unreachable == NotSuspected)
            {
                _unreachable = Suspected;
                _suspectedSince = Environment.TickCount64;
                _resendAt = _suspectedSince + (long)UnreachableConfirmationDelay.TotalMilliseconds;
            }
        }
    }

    /// <summary>A datagram from the peer was queued (under <see cref="_lock"/>): the server is there after all.</summary>
    private void ClearSuspicion()
    {
        if (_unreachable != Unreachable)
        {
            _unreachable = NotSuspected;
        }
    }

    /// <summary>
    /// Before a datagram leaves (handshake thread): one that leaves long enough after a first report is the confirming
    /// resend. Marked before the send, not after: on loopback the kernel reports its ICMP before the send returns.
    /// True when this datagram confirms.
    /// </summary>
    private bool OnDatagramLeaving()
    {
        if (!_unreachableEndsHandshake || Volatile.Read(ref _unreachable) != Suspected)
        {
            return false;
        }

        lock (_lock)
        {
            if (_unreachable == Suspected && Environment.TickCount64 - _suspectedSince >= (long)UnreachableConfirmationDelay.TotalMilliseconds)
            {
                _unreachable = Confirming;
                return true;
            }

            return false;
        }
    }

    /// <summary>
    /// The send reported an older ICMP instead of sending (handshake thread). A report like any other, except that a
    /// datagram meant to confirm did not leave, so it confirms nothing: the next resend is due a delay later.
    /// </summary>
    private void OnSendUnreachable(SocketError error, bool wasConfirming)
    {
        if (wasConfirming)
        {
            lock (_lock)
            {
                if (_unreachable == Confirming)
                {
                    _unreachable = Suspected;
                    return;
                }
            }
        }

        OnUnreachable(error);
    }

    /// <summary>Keeps the flight just sent for a confirming resend (handshake thread, as BouncyCastle turns to receiving).</summary>
    private void KeepFlightForResend()
    {
        if (_unreachableEndsHandshake && _flight.Count > 0)
        {
            _lastFlight.Clear();
            _lastFlight.AddRange(_flight);
        }
    }

    /// <summary>
    /// Under <see cref="_lock"/>, in <c>Receive</c>: the datagrams to resend now to confirm a suspicion, or null (then
    /// <paramref name="wakeAt"/> is brought forward to when they are due).
    /// </summary>
    private byte[][]? TakeConfirmationResend(long now, ref long wakeAt)
    {
        if (_unreachable != Suspected || _lastFlight.Count == 0)
        {
            return null;
        }

        if (now < _resendAt)
        {
            wakeAt = Math.Min(wakeAt, _resendAt);
            return null;
        }

        // Once per delay at most: a resend that did not leave (its send reported an older ICMP) is tried again later.
        _resendAt = now + (long)UnreachableConfirmationDelay.TotalMilliseconds;
        return [.. _lastFlight];
    }

    /// <summary>Under <see cref="_lock"/>: ends the handshake once the server is confirmed unreachable.</summary>
    private void ThrowIfUnreachable()
    {
        if (_unreachable == Unreachable)
        {
            throw new DestinationUnreachableException(_unreachableError);
        }
    }
}
