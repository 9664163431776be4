namespace SukatDtls.Samples.CoapServer;

/// <summary>The CoAP sample's log messages (category <c>SukatDtls.Samples.CoapServer.CoapConnectionHandler</c>); ids are stable.</summary>
internal static partial class CoapLog
{
    [LoggerMessage(1, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint} established ({CipherSuite}), client: {Peer}.")]
    public static partial void Connected(ILogger logger, string connectionId, System.Net.EndPoint? remoteEndPoint, string? cipherSuite, string peer);

    [LoggerMessage(2, LogLevel.Information, "Connection {ConnectionId} from {RemoteEndPoint} closed.")]
    public static partial void Disconnected(ILogger logger, string connectionId, System.Net.EndPoint? remoteEndPoint);

    [LoggerMessage(3, LogLevel.Debug, "Connection {ConnectionId}: {Detail}.")]
    public static partial void Answered(ILogger logger, string connectionId, string detail);

    [LoggerMessage(4, LogLevel.Debug, "Connection {ConnectionId}: {Detail}: answered again from the duplicate cache, not executed again.")]
    public static partial void AnsweredFromCache(ILogger logger, string connectionId, string detail);

    [LoggerMessage(5, LogLevel.Information, "Connection {ConnectionId}: rejected with a Reset: {Detail}.")]
    public static partial void Reset(ILogger logger, string connectionId, string detail);

    [LoggerMessage(6, LogLevel.Debug, "Connection {ConnectionId}: ignored: {Detail}.")]
    public static partial void Ignored(ILogger logger, string connectionId, string detail);

    [LoggerMessage(7, LogLevel.Warning, "Connection {ConnectionId}: the answer ({Length} bytes) does not fit one record ({MaxRecordSize} bytes) and was not sent: {Detail}.")]
    public static partial void AnswerTooLarge(ILogger logger, string connectionId, int length, int maxRecordSize, string detail);
}
