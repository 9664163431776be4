using System.Security.Cryptography;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>Session resumption by session ID on the server (RFC 5246 §7.3 abbreviated handshake).</summary>
/// <remarks>
/// Calls into the cache run on the handshake thread, a dedicated thread: waiting for it there blocks no pool thread,
/// and off the CPU gate (a slow cache must not keep other handshakes from computing). The cache never fails a handshake:
/// a lookup that throws is a full handshake, a session that cannot be stored is not kept; both are counted and logged
/// (at most once a second).
/// </remarks>
internal sealed partial class DtlsServerPeer
{
    /// <summary>The ID of the session this handshake resumes (found in the cache), to forget it after a fatal alert.</summary>
    private byte[]? _resumingSessionId;

    /// <summary>The cipher suite of the session this handshake resumes, or -1.</summary>
    private int _resumingCipherSuite = -1;

    /// <summary>A session the server's own handshake looked up for this ClientHello (and left to BouncyCastle), or null.</summary>
    public (byte[] SessionId, DtlsSessionState? State, bool Failed)? PreloadedSession { get; init; }

    public override byte[]? GetNewSessionID() => _settings.Sessions is null ? null : RandomNumberGenerator.GetBytes(32);

    public override TlsSession? GetSessionToResume(byte[] sessionID)
    {
        if (_settings.Sessions is null || sessionID.Length == 0)
        {
            return null;
        }

        // Looked up already by the server's own handshake, which left this one to BouncyCastle: not asked twice.
        bool failed;
        DtlsSessionState? state;
        if (PreloadedSession is { } preloaded && preloaded.SessionId.AsSpan().SequenceEqual(sessionID))
        {
            (state, failed) = (preloaded.State, preloaded.Failed);
        }
        else
        {
            state = ServerSessionStore.Lookup(_settings, _events, sessionID, out failed);
        }

        if (failed)
        {
            return null; // counted as an error, not a miss
        }

        // RFC 5246 §7.4.1.3: an abbreviated handshake keeps the session's cipher suite, so the client must offer it
        // again; a client that does not gets a full handshake (as OpenSSL's server does, minus its fatal alert).
        if (state?.Session is { IsResumable: true } session
            && session.ExportSessionParameters() is { } parameters
            && Array.IndexOf(m_offeredCipherSuites, parameters.CipherSuite) >= 0)
        {
            _settings.Metrics?.SessionLookup("hit");
            _resumingSessionId = sessionID;
            _resumingCipherSuite = parameters.CipherSuite;
            return session;
        }

        _settings.Metrics?.SessionLookup("miss");
        return null;
    }

    /// <summary>
    /// The session's own suite when resuming. BouncyCastle 2.7 asks for a suite even for an abbreviated handshake and
    /// its default chooses among those of the current certificate: after a reload to another key type (ECDSA to RSA),
    /// on a node with another certificate, or for a client that now offers a suite the server prefers, that is not the
    /// session's suite, and the client aborts the handshake (illegal_parameter, "ServerHello parameters do not match
    /// resumed session"). A resumed session needs no certificate, so any certificate may resume it.
    /// </summary>
    public override int GetSelectedCipherSuite()
    {
        if (m_context.SecurityParameters.IsResumedSession && _resumingCipherSuite >= 0)
        {
            m_selectedCipherSuite = _resumingCipherSuite;
            return _resumingCipherSuite;
        }

        return base.GetSelectedCipherSuite();
    }

    /// <summary>After a full handshake: keep the new session for later resumption.</summary>
    public void StoreNewSession()
    {
        if (!m_context.SecurityParameters.IsResumedSession && m_context.ResumableSession is { } session)
        {
            ServerSessionStore.Store(_settings, _events, session);
        }
    }

    /// <summary>
    /// RFC 5246 §7.2.2: a session whose connection ended with a fatal alert must not be resumed. BouncyCastle invalidates
    /// its own copy; a store outside the process must be told.
    /// </summary>
    private void ForgetSessionAfterFatalAlert(short alertLevel, short alertDescription)
    {
        if (alertLevel != AlertLevel.fatal || _resumingSessionId is not { } sessionId || !m_context.SecurityParameters.IsResumedSession)
        {
            return;
        }

        _resumingSessionId = null;
        ServerSessionStore.Forget(_settings, _events, sessionId, alertDescription);
    }
}
