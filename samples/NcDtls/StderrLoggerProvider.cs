using System.Globalization;
using Microsoft.Extensions.Logging;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// Logs to standard error, one line per message (<c>info nc-dtls: client [::1]:40000 established</c>), written at once
/// so that a log line is out before anything that follows it. Standard output carries data only.
/// </summary>
/// <remarks>
/// Levels by verbosity: 0 errors of nc-dtls and the DTLS transport only (critical ones of the rest); 1 (<c>-v</c>)
/// information from nc-dtls and the DTLS transport, warnings from the rest (Kestrel, hosting); 2 (<c>-vv</c>) debug;
/// 3 (<c>-vvv</c>) trace, with exception stack traces.
/// The application sees a DTLS client only once its handshake is done; the transport logs the moment a verified peer
/// gets its socket (event 3, PeerSocketCreated, at Debug). From <c>-v</c> on, that event is shown at Information as
/// the client's "connected" line, as nc_dtls has it.
/// </remarks>
internal sealed class StderrLoggerProvider(int verbosity) : ILoggerProvider
{
    public const string Category = NcDtlsCommandLine.Name;

    private const string TransportListenerCategory = "SukatDtls.Transport.Listener";
    private const int PeerSocketCreatedEventId = 3;

    private readonly TextWriter _error = Console.Error;
    private readonly Lock _gate = new();

    public int Verbosity { get; } = verbosity;

    public ILogger CreateLogger(string categoryName) => new StderrLogger(this, categoryName);

    public void Dispose() => _error.Flush();

    private LogLevel MinimumLevel(string category)
    {
        bool ours = category == Category || category.StartsWith("SukatDtls.", StringComparison.Ordinal);
        return Verbosity switch
        {
            // Quiet: a failure the user must act on is reported once, as the "nc-dtls: ..." line; the host's own
            // report of it (e.g. "Hosting failed to start") would only repeat it.
            <= 0 => ours ? LogLevel.Error : LogLevel.Critical,
            1 => ours ? LogLevel.Information : LogLevel.Warning,
            2 => LogLevel.Debug,
            _ => LogLevel.Trace,
        };
    }

    private void Write(LogLevel level, string category, string message, Exception? exception)
    {
        string line = string.Create(CultureInfo.InvariantCulture, $"{LevelText(level)} {category}: {message}");
        if (exception is not null)
        {
            line += Verbosity >= 3 ? Environment.NewLine + exception : $" ({exception.GetType().Name}: {exception.Message})";
        }

        lock (_gate)
        {
            _error.WriteLine(line);
            _error.Flush();
        }
    }

    private static string LevelText(LogLevel level) => level switch
    {
        LogLevel.Trace => "trce",
        LogLevel.Debug => "dbug",
        LogLevel.Information => "info",
        LogLevel.Warning => "warn",
        LogLevel.Error => "fail",
        _ => "crit",
    };

    private sealed class StderrLogger(StderrLoggerProvider provider, string category) : ILogger
    {
        private readonly LogLevel _minimum = provider.MinimumLevel(category);
        private readonly bool _mapsPeerSocketCreated = provider.Verbosity >= 1 && category == TransportListenerCategory;

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) =>
            logLevel != LogLevel.None && (logLevel >= _minimum || (_mapsPeerSocketCreated && logLevel == LogLevel.Debug));

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            ArgumentNullException.ThrowIfNull(formatter);
            if (_mapsPeerSocketCreated && eventId.Id == PeerSocketCreatedEventId)
            {
                object? remote = state is IEnumerable<KeyValuePair<string, object?>> values
                    ? values.FirstOrDefault(pair => pair.Key == "RemoteEndPoint").Value
                    : null;
                provider.Write(LogLevel.Information, Category, $"client {remote} connected (cookie verified, handshake started)", null);
            }

            if (logLevel != LogLevel.None && logLevel >= _minimum)
            {
                provider.Write(logLevel, category, formatter(state, exception), exception);
            }
        }
    }
}
