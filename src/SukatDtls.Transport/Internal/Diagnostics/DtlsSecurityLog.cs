using System.Net;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Log messages about peer authentication: client certificates (event ids 20-25), client raw public keys (26-29) and
/// pre-shared keys (30-39), in the category <c>SukatDtls.Transport.Security</c> so that operators can route them apart.
/// Event ids are stable. A rejection is also logged by the listener as a failed handshake (event 5); these entries say why, in detail.
/// </summary>
internal static partial class DtlsSecurityLog
{
    public const string Category = "SukatDtls.Transport.Security";

    [LoggerMessage(20, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: client certificate '{Subject}' (SHA-256 {Thumbprint}) accepted.", EventName = "ClientCertificateAccepted")]
    public static partial void ClientCertificateAccepted(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string subject, string thumbprint);

    [LoggerMessage(21, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: the client sent no certificate; accepted (AllowCertificate).", EventName = "ClientCertificateNotSent")]
    public static partial void ClientCertificateNotSent(ILogger logger, string connectionId, EndPoint? remoteEndPoint);

    [LoggerMessage(22, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: the client sent no certificate, but RequireCertificate needs one; refused with alert {Alert}.", EventName = "ClientCertificateMissing")]
    public static partial void ClientCertificateMissing(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string alert);

    [LoggerMessage(23, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: client certificate '{Subject}' (SHA-256 {Thumbprint}) rejected with alert {Alert}: {Reason}", EventName = "ClientCertificateRejected")]
    public static partial void ClientCertificateRejected(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string subject, string thumbprint, string alert, string reason);

    [LoggerMessage(24, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: the client's certificate could not be read; rejected with alert {Alert}.", EventName = "ClientCertificateUnreadable")]
    public static partial void ClientCertificateUnreadable(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string alert, Exception exception);

    [LoggerMessage(25, LogLevel.Error, "Connection {ConnectionId} from {RemoteEndPoint}: ClientCertificateValidation threw for client certificate '{Subject}'; the handshake fails with alert {Alert}.", EventName = "ClientCertificateValidationFailed")]
    public static partial void ClientCertificateValidationFailed(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string subject, string alert, Exception exception);

    [LoggerMessage(26, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: client raw public key (SHA-256 {Fingerprint}) accepted by the key store.", EventName = "ClientRawPublicKeyAccepted")]
    public static partial void ClientRawPublicKeyAccepted(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string fingerprint);

    [LoggerMessage(27, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: client raw public key (SHA-256 {Fingerprint}) is not in the key store; refused with alert {Alert}.", EventName = "ClientRawPublicKeyRejected")]
    public static partial void ClientRawPublicKeyRejected(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string fingerprint, string alert);

    [LoggerMessage(28, LogLevel.Error, "Connection {ConnectionId} from {RemoteEndPoint}: the raw public key store failed for key SHA-256 {Fingerprint}; the handshake fails with alert internal_error.", EventName = "ClientRawPublicKeyStoreFailed")]
    public static partial void ClientRawPublicKeyStoreFailed(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string fingerprint, Exception exception);

    [LoggerMessage(29, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: the raw public key store did not answer for key SHA-256 {Fingerprint} within the handshake timeout ({TimeoutMs:F0} ms left); the handshake fails with alert internal_error.", EventName = "ClientRawPublicKeyStoreTimedOut")]
    public static partial void ClientRawPublicKeyStoreTimedOut(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string fingerprint, double timeoutMs);

    [LoggerMessage(30, LogLevel.Debug, "Connection {ConnectionId} from {RemoteEndPoint}: PSK identity {Identity} found in the key store.", EventName = "PskIdentityFound")]
    public static partial void PskIdentityFound(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string identity);

    [LoggerMessage(31, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: unknown PSK identity {Identity}; refused with alert unknown_psk_identity.", EventName = "PskIdentityUnknown")]
    public static partial void PskIdentityUnknown(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string identity);

    [LoggerMessage(32, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint}: the client's key for PSK identity {Identity} is not the key store's (its Finished message failed authentication); refused with alert {Alert}.", EventName = "PskKeyMismatch")]
    public static partial void PskKeyMismatch(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string identity, string alert);

    [LoggerMessage(33, LogLevel.Error, "Connection {ConnectionId} from {RemoteEndPoint}: the PSK key store failed for identity {Identity}; the handshake fails with alert internal_error.", EventName = "PskKeyStoreFailed")]
    public static partial void PskKeyStoreFailed(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string identity, Exception exception);

    [LoggerMessage(34, LogLevel.Warning, "Connection {ConnectionId} from {RemoteEndPoint}: the PSK key store did not answer for identity {Identity} within the handshake timeout ({TimeoutMs:F0} ms left); the handshake fails with alert internal_error.", EventName = "PskKeyStoreTimedOut")]
    public static partial void PskKeyStoreTimedOut(ILogger logger, string connectionId, EndPoint? remoteEndPoint, string identity, double timeoutMs);
}
