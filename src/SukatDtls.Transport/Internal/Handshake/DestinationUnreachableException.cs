using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// A client handshake ended because the server cannot be reached: ICMP destination unreachable (port unreachable:
/// nothing listens; or a firewall's host or network prohibited) came back again for a resend
/// (<see cref="HandshakeTransport"/> states the rule). The client factory turns it into a <see cref="SocketException"/>
/// with <see cref="Error"/>.
/// </summary>
/// <remarks>
/// An <see cref="IOException"/> because BouncyCastle's client protocol passes those on as they are (anything else it
/// wraps in an internal_error alert).
/// </remarks>
internal sealed class DestinationUnreachableException : IOException
{
    public DestinationUnreachableException()
        : this(SocketError.ConnectionRefused)
    {
    }

    public DestinationUnreachableException(SocketError error)
        : base($"ICMP destination unreachable ({error}), again for a resend.")
    {
        Error = error;
    }

    public DestinationUnreachableException(string message)
        : base(message)
    {
        Error = SocketError.ConnectionRefused;
    }

    public DestinationUnreachableException(string message, Exception innerException)
        : base(message, innerException)
    {
        Error = SocketError.ConnectionRefused;
    }

    /// <summary>How the socket reported it: <see cref="SocketError.ConnectionRefused"/> for port unreachable.</summary>
    public SocketError Error { get; }
}
