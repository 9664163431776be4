using System.Net;
using System.Net.Sockets;

namespace SukatDtls.Transport;

/// <summary>
/// A UDP address and port served over DTLS. Pass it to
/// <c>KestrelServerOptions.Listen(EndPoint, Action&lt;ListenOptions&gt;)</c>; the DTLS transport claims
/// endpoints of this type only, so TCP <see cref="IPEndPoint"/>s stay with Kestrel's sockets transport.
/// </summary>
/// <remarks>
/// It derives from <see cref="EndPoint"/> rather than <see cref="IPEndPoint"/> on purpose: Kestrel's sockets
/// transport binds every <see cref="IPEndPoint"/>. <see cref="IPAddress.IPv6Any"/> listens dual-stack (IPv4
/// peers appear as IPv4-mapped IPv6 addresses). Port 0 picks a free port; after binding, Kestrel's
/// <c>ListenOptions.EndPoint</c> holds the endpoint with the real port.
/// </remarks>
public sealed class DtlsEndPoint : EndPoint
{
    /// <summary>Creates an endpoint for <paramref name="address"/> and <paramref name="port"/>.</summary>
    /// <exception cref="ArgumentOutOfRangeException">The port is outside 0–65535.</exception>
    public DtlsEndPoint(IPAddress address, int port)
        : this(new IPEndPoint(address ?? throw new ArgumentNullException(nameof(address)), port))
    {
    }

    /// <summary>Creates an endpoint for an IP endpoint.</summary>
    public DtlsEndPoint(IPEndPoint ipEndPoint)
    {
        ArgumentNullException.ThrowIfNull(ipEndPoint);
        IPEndPoint = ipEndPoint;
    }

    /// <summary>The UDP address and port.</summary>
    public IPEndPoint IPEndPoint { get; }

    /// <summary>The IP address.</summary>
    public IPAddress Address => IPEndPoint.Address;

    /// <summary>The UDP port; 0 before binding means "any free port".</summary>
    public int Port => IPEndPoint.Port;

    /// <inheritdoc />
    public override AddressFamily AddressFamily => IPEndPoint.AddressFamily;

    /// <summary>Formats as <c>dtls:ADDRESS:PORT</c>, in the style of Kestrel's <c>unix:</c> and <c>pipe:</c> endpoints.</summary>
    public override string ToString() => "dtls:" + IPEndPoint;

    /// <inheritdoc />
    public override bool Equals(object? obj) => obj is DtlsEndPoint other && IPEndPoint.Equals(other.IPEndPoint);

    /// <inheritdoc />
    public override int GetHashCode() => HashCode.Combine(typeof(DtlsEndPoint), IPEndPoint);
}
