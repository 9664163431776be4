using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Client;

/// <summary>
/// A DTLS session that a client can resume with an abbreviated handshake: take it from
/// <see cref="Features.IDtlsSessionFeature.ResumableSession"/> of an earlier connection and pass it to
/// <see cref="DtlsConnectionFactory.ConnectAsync(System.Net.EndPoint, DtlsResumableSession?, CancellationToken)"/>.
/// It holds the session's master secret: keep it in memory only.
/// </summary>
public sealed class DtlsResumableSession
{
    internal DtlsResumableSession(TlsSession session, string serverName)
    {
        Session = session;
        ServerName = serverName;
    }

    internal TlsSession Session { get; }

    /// <summary>The server name the session was made with; it is resumed only with the same name.</summary>
    public string ServerName { get; }

    /// <summary>The session ID, as hexadecimal text (for logs).</summary>
    public string SessionId => Convert.ToHexString(Session.SessionID);
}
