namespace SukatDtls.Transport.Internal;

/// <summary>
/// Running totals of one listener, updated with interlocked increments, and forwarded to the metrics instruments when
/// metrics are on. Tests read the totals to assert what was (and, above all, what was not) allocated for hostile peers.
/// </summary>
/// <remarks>
/// Each event is recorded in the metrics first and counted in the totals last, so whoever waits for a total to move
/// (a test, then checking the metric) finds everything else about that event already recorded.
/// </remarks>
internal sealed class DtlsListenerStatistics(DtlsMetrics? metrics = null)
{
    private long _datagramsReceived;
    private long _datagramsDropped;
    private long _cookiesSent;
    private long _peerSocketsCreated;
    private long _handshakesStarted;
    private long _handshakesCompleted;
    private long _handshakesFailed;
    private long _handshakesRefused;
    private long _handshakesEvicted;
    private long _connectionsRefused;
    private long _connectionsClosed;
    private long _datagramsForwarded;
    private long _datagramsRoutedByConnectionId;
    private long _refusedByConnectionLimit;
    private long _refusedByRateLimit;
    private long _clientHellosReassembled;
    private long _clientHelloFragmentsHeld;
    private long _ownHandshakesCompleted;

    public long DatagramsReceived => Interlocked.Read(ref _datagramsReceived);

    /// <summary>Datagrams from unknown peers that were not a ClientHello, or not a parsable one.</summary>
    public long DatagramsDropped => Interlocked.Read(ref _datagramsDropped);

    public long CookiesSent => Interlocked.Read(ref _cookiesSent);

    public long PeerSocketsCreated => Interlocked.Read(ref _peerSocketsCreated);

    public long HandshakesStarted => Interlocked.Read(ref _handshakesStarted);

    public long HandshakesCompleted => Interlocked.Read(ref _handshakesCompleted);

    public long HandshakesFailed => Interlocked.Read(ref _handshakesFailed);

    /// <summary>Verified peers turned away because the handshake capacity was full and no handshake could give way.</summary>
    public long HandshakesRefused => Interlocked.Read(ref _handshakesRefused);

    /// <summary>Handshakes that waited long for a silent peer and gave their place to a new verified peer.</summary>
    public long HandshakesEvicted => Interlocked.Read(ref _handshakesEvicted);

    /// <summary>Established connections turned away because the accept queue was full.</summary>
    public long ConnectionsRefused => Interlocked.Read(ref _connectionsRefused);

    public long ConnectionsClosed => Interlocked.Read(ref _connectionsClosed);

    /// <summary>Datagrams of known peers that reached the listening socket and were handed to their connection.</summary>
    public long DatagramsForwarded => Interlocked.Read(ref _datagramsForwarded);

    /// <summary>Records with a known Connection ID from an address no connection has (the peer moved), handed to their connection.</summary>
    public long DatagramsRoutedByConnectionId => Interlocked.Read(ref _datagramsRoutedByConnectionId);

    public void OnDatagramRoutedByConnectionId() => Interlocked.Increment(ref _datagramsRoutedByConnectionId);

    /// <summary>Verified peers turned away because <c>MaxConnections</c> peers had sockets.</summary>
    public long RefusedByConnectionLimit => Interlocked.Read(ref _refusedByConnectionLimit);

    /// <summary>Verified peers turned away because their address used up <c>MaxHandshakesPerSecondPerAddress</c>.</summary>
    public long RefusedByRateLimit => Interlocked.Read(ref _refusedByRateLimit);

    /// <summary>ClientHellos that arrived in fragments and were put back together for the cookie check.</summary>
    public long ClientHellosReassembled => Interlocked.Read(ref _clientHellosReassembled);

    public void OnClientHelloReassembled() => Interlocked.Increment(ref _clientHellosReassembled);

    /// <summary>ClientHello fragments kept for reassembly (or ignored as malformed) without an answer yet.</summary>
    public long ClientHelloFragmentsHeld => Interlocked.Read(ref _clientHelloFragmentsHeld);

    public void OnClientHelloFragmentHeld() => Interlocked.Increment(ref _clientHelloFragmentsHeld);

    public void OnRefusedByConnectionLimit()
    {
        metrics?.PeerRefused("connection_limit");
        Interlocked.Increment(ref _refusedByConnectionLimit);
    }

    public void OnRefusedByRateLimit()
    {
        metrics?.PeerRefused("rate_limit");
        Interlocked.Increment(ref _refusedByRateLimit);
    }

    public void OnDatagramReceived() => Interlocked.Increment(ref _datagramsReceived);

    /// <param name="reason">Metric tag: <c>not_client_hello</c>, <c>bad_client_hello</c> or <c>unknown_connection_id</c>.</param>
    public void OnDatagramDropped(string reason)
    {
        metrics?.DatagramDropped(reason);
        Interlocked.Increment(ref _datagramsDropped);
    }

    public void OnCookieSent()
    {
        metrics?.CookieSent();
        Interlocked.Increment(ref _cookiesSent);
    }

    public void OnPeerSocketCreated() => Interlocked.Increment(ref _peerSocketsCreated);

    public void OnHandshakeStarted()
    {
        metrics?.HandshakeStarted();
        Interlocked.Increment(ref _handshakesStarted);
    }

    /// <summary>Of <see cref="HandshakesCompleted"/>, those the transport's own handshake made (<c>EcdheServerHandshake</c>), not BouncyCastle's.</summary>
    public long OwnHandshakesCompleted => Interlocked.Read(ref _ownHandshakesCompleted);

    public void OnHandshakeCompleted(TimeSpan duration, string cipherSuite, bool resumed, bool own = false)
    {
        metrics?.HandshakeEnded(duration, cipherSuite, resumed, errorType: null);
        if (own)
        {
            Interlocked.Increment(ref _ownHandshakesCompleted);
        }

        Interlocked.Increment(ref _handshakesCompleted);
    }

    /// <param name="duration">How long it ran, when it ran (null: it failed before it started).</param>
    /// <param name="errorType">Metric tag: what failed (<c>timeout</c>, an alert name, an exception type).</param>
    public void OnHandshakeFailed(TimeSpan? duration, string errorType)
    {
        if (duration is { } ran)
        {
            metrics?.HandshakeEnded(ran, cipherSuite: null, resumed: false, errorType);
        }

        Interlocked.Increment(ref _handshakesFailed);
    }

    public void OnHandshakeRefused()
    {
        metrics?.PeerRefused("handshake_capacity");
        Interlocked.Increment(ref _handshakesRefused);
    }

    public void OnHandshakeEvicted()
    {
        metrics?.HandshakeEvicted();
        Interlocked.Increment(ref _handshakesEvicted);
    }

    public void OnConnectionRefused()
    {
        metrics?.PeerRefused("accept_queue_full");
        Interlocked.Increment(ref _connectionsRefused);
    }

    public void OnConnectionClosed() => Interlocked.Increment(ref _connectionsClosed);

    public void OnDatagramForwarded() => Interlocked.Increment(ref _datagramsForwarded);
}
