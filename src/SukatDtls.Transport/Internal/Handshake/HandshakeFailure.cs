using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>How a failed handshake is named in metrics and described in logs.</summary>
internal static class HandshakeFailure
{
    /// <summary>The <c>error.type</c> tag of a failed handshake: low-cardinality names only.</summary>
    public static string ErrorType(Exception ex) => ex switch
    {
        TlsTimeoutException => "timeout",
        TlsFatalAlertReceived received => "peer_" + AlertDescription.GetName(received.AlertDescription),
        TlsFatalAlert alert => AlertDescription.GetName(alert.AlertDescription),
        _ => ex.GetType().Name,
    };

    /// <summary>A sentence for the log.</summary>
    public static string Describe(Exception ex) => ex switch
    {
        TlsTimeoutException => "timed out",
        TlsFatalAlertReceived received => $"the peer sent alert {AlertDescription.GetText(received.AlertDescription)}",
        // BouncyCastle's message starts with the alert's text already ("decrypt_error(51); why"): not said twice.
        TlsFatalAlert alert => alert.Message.StartsWith(AlertDescription.GetText(alert.AlertDescription), StringComparison.Ordinal)
            ? alert.Message
            : $"{AlertDescription.GetText(alert.AlertDescription)}: {alert.Message}",
        _ => ex.Message,
    };

    /// <summary>Whether the exception is worth its stack trace in the log (a timeout is not).</summary>
    public static Exception? ForLog(Exception ex) => ex is TlsTimeoutException ? null : ex;
}
