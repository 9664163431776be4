using System.Security.Cryptography;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>Session resumption by session ID on the server (RFC 5246 §7.3 abbreviated handshake).</summary>
internal sealed partial class DtlsServerPeer
{
    // Calls into the cache run on the handshake thread, a dedicated thread: waiting for it there blocks no pool thread,
    // and off the CPU gate (a slow cache must not keep other handshakes from computing).
    public override byte[]? GetNewSessionID() => _settings.Sessions is null ? null : RandomNumberGenerator.GetBytes(32);

    public override TlsSession? GetSessionToResume(byte[] sessionID)
    {
        if (_settings.Sessions is not { } sessions || sessionID.Length == 0)
        {
            return null;
        }

        var state = _events.OffCpu(() =>
        {
            using var timeout = new CancellationTokenSource(_settings.Options.HandshakeTimeout);
            var lookup = sessions.GetAsync(sessionID, timeout.Token);
            return lookup.IsCompletedSuccessfully ? lookup.Result : lookup.AsTask().GetAwaiter().GetResult();
        });
        return state?.Session is { IsResumable: true } session ? session : null;
    }

    /// <summary>After a full handshake: keep the new session for later resumption.</summary>
    public void StoreNewSession()
    {
        if (_settings.Sessions is not { } sessions
            || m_context.SecurityParameters.IsResumedSession
            || m_context.ResumableSession is not { IsResumable: true } session)
        {
            return;
        }

        _events.OffCpu(() =>
        {
            using var timeout = new CancellationTokenSource(_settings.Options.HandshakeTimeout);
            var store = sessions.SetAsync(session.SessionID, new DtlsSessionState(session, _settings.TimeProvider.GetUtcNow()), timeout.Token);
            if (!store.IsCompletedSuccessfully)
            {
                store.AsTask().GetAwaiter().GetResult();
            }

            return true;
        });
    }
}
