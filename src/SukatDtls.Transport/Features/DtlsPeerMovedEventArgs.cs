using System.Net;

namespace SukatDtls.Transport.Features;

/// <summary>A move of the peer to another address (<see cref="IDtlsMigrationFeature.PeerMoved"/>).</summary>
/// <param name="previous">Where the peer was.</param>
/// <param name="current">Where it is now.</param>
public sealed class DtlsPeerMovedEventArgs(EndPoint previous, EndPoint current) : EventArgs
{
    /// <summary>Where the peer was.</summary>
    public EndPoint Previous { get; } = previous;

    /// <summary>Where the peer is now (the connection's <c>RemoteEndPoint</c>).</summary>
    public EndPoint Current { get; } = current;
}
