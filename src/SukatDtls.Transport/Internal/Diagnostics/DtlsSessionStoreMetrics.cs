using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The distributed session store's own instrument, on the transport's meter (<see cref="DtlsMetrics.MeterName"/>):
/// <c>dtls.session_cache.writes</c>, the writes and removals it made in the background. Its lookups are counted by the
/// handshake that asked, like any store's (<c>dtls.session_cache.lookups</c>, <see cref="DtlsMetrics"/>).
/// </summary>
internal sealed class DtlsSessionStoreMetrics
{
    private readonly Counter<long> _writes;

    public DtlsSessionStoreMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(DtlsMetrics.MeterName);
        _writes = meter.CreateCounter<long>("dtls.session_cache.writes", "{operation}",
            "Writes (operation set) and removals (operation remove) of the distributed session store (tags result: ok or error, and error.type).");
    }

    /// <param name="operation"><c>set</c> or <c>remove</c>.</param>
    /// <param name="errorType">Null when it succeeded; else <c>timeout</c>, <c>unavailable</c> or the exception's type.</param>
    public void Written(string operation, string? errorType)
    {
        var tags = new TagList { { "operation", operation }, { "result", errorType is null ? "ok" : "error" } };
        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
        }

        _writes.Add(1, tags);
    }
}
