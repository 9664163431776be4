using Microsoft.Extensions.Logging;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>Writes log lines to the test's output, and keeps them for assertions.</summary>
internal sealed class XunitLoggerProvider(ITestOutputHelper? output, LogLevel minimumLevel = LogLevel.Debug) : ILoggerProvider
{
    private readonly List<(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)> _entries = [];

    public IReadOnlyList<(string Category, LogLevel Level, EventId EventId, string Message, Exception? Exception)> Entries
    {
        get
        {
            lock (_entries)
            {
                return _entries.ToArray();
            }
        }
    }

    public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

    public void Dispose()
    {
    }

    private void Write(string category, LogLevel level, EventId eventId, string message, Exception? exception)
    {
        lock (_entries)
        {
            _entries.Add((category, level, eventId, message, exception));
        }

        try
        {
            output?.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {level,-11} {category}[{eventId.Id}] {message}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished; its output is closed.
        }
    }

    private sealed class Logger(XunitLoggerProvider provider, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel >= provider._minimumLevel;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (IsEnabled(logLevel))
            {
                provider.Write(category, logLevel, eventId, formatter(state, exception), exception);
            }
        }
    }

    private readonly LogLevel _minimumLevel = minimumLevel;
}
