using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Log messages about the server certificate from files and its reload (event ids 40-49), in the category
/// <c>SukatDtls.Transport.Certificates</c>. Event ids are stable: alert on 42 (a change that could not be loaded) and 44
/// (no reload at all).
/// </summary>
internal static partial class DtlsCertificateLog
{
    public const string Category = "SukatDtls.Transport.Certificates";

    [LoggerMessage(40, LogLevel.Information, "Server certificate '{Subject}' (SHA-256 {Thumbprint}, valid until {NotAfter:u}) loaded from {CertificatePath}; watching its files for changes.", EventName = "ServerCertificateLoaded")]
    public static partial void CertificateLoaded(ILogger logger, string subject, string thumbprint, DateTime notAfter, string certificatePath);

    [LoggerMessage(41, LogLevel.Information, "Server certificate reloaded from {CertificatePath}: '{Subject}' (SHA-256 {Thumbprint}, valid until {NotAfter:u}) replaces SHA-256 {PreviousThumbprint} for new handshakes.", EventName = "ServerCertificateReloaded")]
    public static partial void CertificateReloaded(ILogger logger, string certificatePath, string subject, string thumbprint, DateTime notAfter, string previousThumbprint);

    [LoggerMessage(42, LogLevel.Warning, "The server certificate files changed but cannot be loaded from {CertificatePath} ({Reason}); new handshakes keep SHA-256 {Thumbprint}, and the next change is tried again.", EventName = "ServerCertificateReloadFailed")]
    public static partial void CertificateReloadFailed(ILogger logger, string certificatePath, string reason, string thumbprint, Exception exception);

    [LoggerMessage(43, LogLevel.Debug, "The server certificate files changed; the certificate is the same (SHA-256 {Thumbprint}).", EventName = "ServerCertificateUnchanged")]
    public static partial void CertificateUnchanged(ILogger logger, string thumbprint);

    [LoggerMessage(44, LogLevel.Warning, "Cannot watch {Directory} for server certificate changes: the certificate will not be reloaded until the host restarts.", EventName = "ServerCertificateWatchFailed")]
    public static partial void WatchFailed(ILogger logger, string directory, Exception exception);
}
