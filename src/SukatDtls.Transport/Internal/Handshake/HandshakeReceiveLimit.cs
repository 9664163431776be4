namespace SukatDtls.Transport.Internal;

/// <summary>
/// The largest datagram BouncyCastle is told a handshake may receive (<see cref="HandshakeTransport.GetReceiveLimit"/>),
/// learned from what peers send, shared by the handshakes of one listener or client factory.
/// </summary>
/// <remarks>
/// BouncyCastle allocates a buffer of this size for every call that receives (the record layer's and the reliable
/// handshake's): at the protocol's maximum (a 16 KiB record and its overhead) that was 62 % of the ~108 KB a full
/// handshake allocated, for datagrams that on real paths are at most an Ethernet frame (OpenSSL and GnuTLS send
/// handshake datagrams of about 900 bytes even on loopback). So the limit starts at <see cref="Floor"/> and grows to
/// the largest datagram seen, up to the ceiling. A record larger than the limit at the moment BouncyCastle receives is
/// dropped, as a datagram lost on the network would be: the handshake's retransmission brings it again, and by then
/// the limit has grown, for this handshake and every later one.
/// </remarks>
internal sealed class HandshakeReceiveLimit
{
    /// <summary>Where the limit starts: an Ethernet frame's UDP payload, rounded up.</summary>
    public const int Floor = 1536;

    // Growth in steps, so that a peer whose datagrams vary by a few bytes does not cost a drop for each new maximum.
    private const int Step = 1024;

    private readonly int _ceiling;
    private int _current;

    /// <param name="floor">The first limit.</param>
    /// <param name="ceiling">The limit never grows beyond this (the largest record datagram the protocol allows).</param>
    public HandshakeReceiveLimit(int floor, int ceiling)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(floor, ceiling);
        _current = floor;
        _ceiling = ceiling;
    }

    /// <summary>A limit that never changes (tests, and callers that want BouncyCastle's full buffers).</summary>
    public static HandshakeReceiveLimit Fixed(int limit) => new(limit, limit);

    /// <summary>The limit now.</summary>
    public int Current => Volatile.Read(ref _current);

    /// <summary>Grows the limit to hold <paramref name="datagramLength"/> bytes (never beyond the ceiling).</summary>
    public void Learn(int datagramLength)
    {
        int current = Volatile.Read(ref _current);
        if (datagramLength <= current)
        {
            return;
        }

        int wanted = Math.Min(_ceiling, (datagramLength + Step - 1) / Step * Step);
        while (wanted > current)
        {
            int seen = Interlocked.CompareExchange(ref _current, wanted, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }
}
