using System.Net;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Client;

/// <summary>The client's log messages (event ids 101+, apart from the server's).</summary>
internal static partial class ClientLog
{
    [LoggerMessage(101, LogLevel.Debug, "Connection {ConnectionId} to {RemoteEndPoint} established with {CipherSuite}.", EventName = "ClientConnected")]
    public static partial void Connected(ILogger logger, string connectionId, EndPoint remoteEndPoint, string cipherSuite);

    [LoggerMessage(102, LogLevel.Debug, "Connecting to {RemoteEndPoint} for {Target} (address {Attempt} of {Addresses}).", EventName = "ConnectAttemptStarted")]
    public static partial void AttemptStarted(ILogger logger, EndPoint remoteEndPoint, string target, int attempt, int addresses);

    [LoggerMessage(103, LogLevel.Debug, "Connecting to {RemoteEndPoint} for {Target} failed: {Reason}", EventName = "ConnectAttemptFailed")]
    public static partial void AttemptFailed(ILogger logger, EndPoint remoteEndPoint, string target, string reason);

    [LoggerMessage(104, LogLevel.Debug, "Connecting to {RemoteEndPoint} for {Target} abandoned: {Reason}.", EventName = "ConnectAttemptAbandoned")]
    public static partial void AttemptAbandoned(ILogger logger, EndPoint remoteEndPoint, string target, string reason);
}
