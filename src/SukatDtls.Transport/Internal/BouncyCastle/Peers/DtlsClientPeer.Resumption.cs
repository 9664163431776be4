using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Client;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>Session resumption on the client: offer the given session, and hand out the new one.</summary>
internal sealed partial class DtlsClientPeer
{
    public override TlsSession? GetSessionToResume() => _sessionToResume?.Session;

    /// <summary>After the handshake: the session a later connect can resume, if the server made it resumable.</summary>
    public DtlsResumableSession? ResumableSession =>
        m_context.ResumableSession is { IsResumable: true } session ? new DtlsResumableSession(session, _serverName) : null;
}
