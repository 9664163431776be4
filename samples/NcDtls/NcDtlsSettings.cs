namespace SukatDtls.Samples.NcDtls;

/// <summary>What the command line asked for, checked for consistency (files are opened later).</summary>
/// <param name="Listen">Listen mode (<c>-l</c>); otherwise client mode.</param>
/// <param name="Host">Client: the server's host name or address. Listen: the bind address, or null for the default.</param>
/// <param name="Port">Client: the server's port (1–65535). Listen: the port to bind (0 = any free port).</param>
/// <param name="CertificateFile">PEM certificate: the server's (listen) or the client's (client mode).</param>
/// <param name="KeyFile">PEM private key of <paramref name="CertificateFile"/>; null means "in the certificate file".</param>
/// <param name="CaFile">Client: trust only the CAs of this PEM bundle for the server certificate.</param>
/// <param name="Insecure">Client: accept any server certificate.</param>
/// <param name="HandshakeTimeout">How long a DTLS handshake may take.</param>
/// <param name="ConnectionId">Client: ask the server for a Connection ID (RFC 9146), so the session survives an address change.</param>
/// <param name="Verbosity">0 quiet, 1 information (<c>-v</c>), 2 debug (<c>-vv</c>), 3 trace (<c>-vvv</c>).</param>
internal sealed record NcDtlsSettings(
    bool Listen,
    string? Host,
    int Port,
    string? CertificateFile,
    string? KeyFile,
    string? CaFile,
    bool Insecure,
    TimeSpan HandshakeTimeout,
    bool ConnectionId,
    int Verbosity)
{
    /// <summary>The listener's certificate when none is given: the development certificate next to the program.</summary>
    public static string DefaultServerCertificate => Path.Combine(AppContext.BaseDirectory, "certs", "server.pem");

    /// <summary>The private key of <see cref="DefaultServerCertificate"/>.</summary>
    public static string DefaultServerKey => Path.Combine(AppContext.BaseDirectory, "certs", "server.key");

    /// <summary>The handshake timeout when <c>-w</c> is not given (the library's default).</summary>
    public static TimeSpan DefaultHandshakeTimeout { get; } = TimeSpan.FromSeconds(10);
}
