using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport;

/// <summary>A resumable DTLS session as the server keeps it in its <see cref="IDtlsSessionCache"/> (opaque).</summary>
public sealed class DtlsSessionState
{
    internal DtlsSessionState(TlsSession session, DateTimeOffset created)
    {
        Session = session;
        Created = created;
    }

    internal TlsSession Session { get; }

    /// <summary>When the full handshake that made the session finished.</summary>
    public DateTimeOffset Created { get; }
}
