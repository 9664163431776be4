using System.Diagnostics.CodeAnalysis;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;
using SukatDtls.Transport.Internal.Ecdhe;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The server side of one handshake: BouncyCastle's <see cref="DtlsServerProtocol"/> continues from the verified
/// ClientHello on the peer's own socket, and the new session goes into the session cache.
/// </summary>
/// <remarks>
/// BouncyCastle's handshake runs on a handshake thread and blocks until it is done, failed or timed out. It computes
/// only with a CPU pass of its <see cref="HandshakeSlot"/>; the transport gives the pass back while the peer is awaited.
/// Our own runs between datagrams where it can (<see cref="ReceiveLoopHandshake"/>), else the same way.
/// </remarks>
internal sealed class ServerHandshake(ServerPeerSettings settings, TimeProvider timeProvider)
{
    /// <summary>
    /// On the listener's receive loop: whether our own handshake takes this ClientHello and can run between datagrams
    /// (<see cref="ReceiveLoopHandshake"/>), and its plan if so — chosen here, where the session it may resume is
    /// looked up in memory at once. Its first flight is then computed by <see cref="Start"/>, on the loop or a handshake
    /// thread; false leaves the handshake to a handshake thread (<see cref="Run"/>).
    /// </summary>
    public bool TryPlanBetweenDatagrams(DtlsConnection connection, ClientHelloMessage clientHello, [NotNullWhen(true)] out EcdheServerPlan? plan)
    {
        plan = null;
        var credentials = settings.Credentials;
        if (!ReceiveLoopHandshake.IsPossible(settings, connection, clientHello) || !EcdheServerPlan.IsEligible(settings, credentials, clientHello))
        {
            return false;
        }

        plan = OwnPlan(connection, credentials!, clientHello, out _);
        return plan is not null;
    }

    /// <summary>
    /// Computes and sends the first flight of our own handshake with the plan of <see cref="TryPlanBetweenDatagrams"/>
    /// and a CPU pass held in <paramref name="slot"/> (given back when the flight is out); the handshake then goes on
    /// between datagrams, and its end — failures included — goes to <paramref name="owner"/>.
    /// </summary>
    public void Start(DtlsConnection connection, ClientHelloMessage clientHello, EcdheServerPlan plan, HandshakeSlot slot, long started,
        IServerHandshakeOwner owner) =>
        ReceiveLoopHandshake.Start(settings, plan, clientHello, connection, slot, owner, started, timeProvider);

    /// <summary>
    /// Runs the handshake on a handshake thread, to its end: BouncyCastle's, or our own where it cannot go on between
    /// datagrams (it looks up the session the client offers in a cache that may wait, or the receive loops do not run).
    /// </summary>
    /// <param name="connection">The peer's connection, in handshake.</param>
    /// <param name="request">The verified ClientHello (BouncyCastle's request is made from it only for its handshake).</param>
    /// <param name="clientHello">The verified ClientHello as our own handshake reads it; null when it cannot (BouncyCastle's then runs).</param>
    /// <param name="slot">The handshake's place in the scheduler.</param>
    /// <param name="started">When the handshake started (<see cref="TimeProvider.GetTimestamp"/>), for its duration.</param>
    /// <exception cref="Exception">The handshake failed (<see cref="HandshakeFailure"/> names and describes why).</exception>
    public CompletedHandshake Run(DtlsConnection connection, VerifiedClientHello request, ClientHelloMessage? clientHello, HandshakeSlot slot, long started)
    {
        var datagrams = connection.Datagrams;
        datagrams.Slot = slot;
        slot.EnterCpu(continuing: false);
        // The certificate is taken now, once: one reloaded while the handshake runs (or waits for a session lookup) is
        // for later handshakes.
        var credentials = settings.Credentials;
        (byte[] SessionId, DtlsSessionState? State, bool Failed)? lookedUp = null;
        if (clientHello is not null && EcdheServerPlan.IsEligible(settings, credentials, clientHello))
        {
            var plan = OwnPlan(connection, credentials!, clientHello, out lookedUp);
            if (plan is not null)
            {
                try
                {
                    return EcdheServerHandshake.Run(settings, plan, clientHello, datagrams, connection, started, timeProvider);
                }
                finally
                {
                    datagrams.Flush();
                }
            }
        }

        var server = new DtlsServerPeer(settings, connection, credentials) { PreloadedSession = lookedUp };
        try
        {
            // BouncyCastle's DtlsTransport is not used: the connection's own record layer takes the records over.
            _ = new DtlsServerProtocol().Accept(server, datagrams, request.CreateRequest());
        }
        finally
        {
            // The last flight (or the alert of a failure) leaves now, before anything else is done.
            datagrams.Flush();
        }

        var handshake = CompletedHandshake.Create(server.Context, server.Keys!, datagrams, timeProvider.GetElapsedTime(started));
        server.StoreNewSession();
        return handshake;
    }

    /// <summary>
    /// Our own handshake's plan: an abbreviated handshake when the client offers a session ours can resume, else a full
    /// one when ours can make it; null leaves the handshake to BouncyCastle, with the session looked up here (if any)
    /// in <paramref name="lookedUp"/> so that it is not asked for twice.
    /// </summary>
    private EcdheServerPlan? OwnPlan(DtlsConnection connection, CertificateCredentials credentials, ClientHelloMessage clientHello,
        out (byte[] SessionId, DtlsSessionState? State, bool Failed)? lookedUp)
    {
        lookedUp = null;
        if (settings.Sessions is not null && !clientHello.SessionId.IsEmpty)
        {
            byte[] sessionId = clientHello.SessionId.ToArray();
            var state = ServerSessionStore.Lookup(settings, connection, sessionId, out bool failed);
            lookedUp = (sessionId, state, failed);
            if (state?.Session is { } session)
            {
                if (EcdheServerPlan.ForResumption(settings, clientHello, session) is not { } resumption)
                {
                    // A session only BouncyCastle's handshake resumes (or one it turns down, as it decides).
                    return null;
                }

                settings.Metrics?.SessionLookup("hit");
                return resumption;
            }
        }

        var full = EcdheServerPlan.For(settings, credentials, clientHello);
        if (full is not null && lookedUp is { Failed: false })
        {
            settings.Metrics?.SessionLookup("miss");
        }

        return full;
    }
}
