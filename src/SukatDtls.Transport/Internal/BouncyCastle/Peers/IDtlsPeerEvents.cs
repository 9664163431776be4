namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>What a connection learns from BouncyCastle's <see cref="Org.BouncyCastle.Tls.TlsPeer"/> callbacks.</summary>
internal interface IDtlsPeerEvents
{
    /// <summary>The connection's id, for log messages of the handshake.</summary>
    string ConnectionId { get; }

    /// <summary>The peer's address, for log messages of the handshake.</summary>
    System.Net.EndPoint? RemoteEndPoint { get; }

    /// <summary>Cancelled when the connection ends (also while its handshake runs: listener unbound, shutdown).</summary>
    CancellationToken ConnectionClosed { get; }

    /// <summary>
    /// Runs a wait of the handshake that is not for the peer — the application's key store, session cache, certificate
    /// validation — without holding a CPU pass (<see cref="HandshakeCpuGate"/>), and returns its result.
    /// </summary>
    T OffCpu<T>(Func<T> wait);

    /// <summary>A new Connection ID for the peer to put in its records (RFC 9146), or null when none is given.</summary>
    byte[]? ReserveConnectionId();

    /// <summary>An alert arrived from the peer; close_notify is the graceful end of its sending side.</summary>
    void OnAlertReceived(short alertLevel, short alertDescription);

    /// <summary>We are sending an alert (BouncyCastle decided it, or close_notify on our close).</summary>
    void OnAlertRaised(short alertLevel, short alertDescription, string? message, Exception? cause);
}
