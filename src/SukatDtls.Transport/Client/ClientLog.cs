using System.Net;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Client;

/// <summary>The client's log messages (event ids 101+, apart from the server's).</summary>
internal static partial class ClientLog
{
    [LoggerMessage(101, LogLevel.Debug, "Connection {ConnectionId} to {RemoteEndPoint} established with {CipherSuite}.", EventName = "ClientConnected")]
    public static partial void Connected(ILogger logger, string connectionId, EndPoint remoteEndPoint, string cipherSuite);
}
