using System.Diagnostics.Metrics;

namespace SukatDtls.Samples.EchoServer;

/// <summary>
/// Live figures of the DTLS transport for the status page, gathered from its <c>SukatDtls.Transport</c> meter with a
/// <see cref="MeterListener"/> (the same figures <c>dotnet-counters</c> shows). Only the meters of this host's
/// <see cref="IMeterFactory"/> count, so several hosts in one process do not mix.
/// </summary>
public sealed class DtlsStatus : IDisposable
{
    private const string MeterName = "SukatDtls.Transport";

    private readonly MeterListener _listener = new();
    private readonly IMeterFactory _meterFactory;
    private readonly DateTimeOffset _started;
    private long _activeConnections;
    private long _handshakesCompleted;
    private long _handshakesResumed;
    private long _handshakesFailed;
    private long _refusedPeers;
    private long _cookiesSent;
    private long _droppedDatagrams;
    private long _receivedBytes;
    private long _sentBytes;
    private long _receivedRecords;
    private long _sentRecords;

    public DtlsStatus(IMeterFactory meterFactory, TimeProvider timeProvider)
    {
        _meterFactory = meterFactory;
        _started = timeProvider.GetUtcNow();
        Clock = timeProvider;
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (instrument.Meter.Name == MeterName && ReferenceEquals(instrument.Meter.Scope, _meterFactory))
            {
                listener.EnableMeasurementEvents(instrument, this);
            }
        };
        _listener.SetMeasurementEventCallback<long>(static (instrument, value, tags, state) => ((DtlsStatus)state!).OnLong(instrument.Name, value));
        _listener.SetMeasurementEventCallback<double>(static (instrument, _, tags, state) => ((DtlsStatus)state!).OnHandshake(instrument.Name, tags));
        _listener.Start();
    }

    private TimeProvider Clock { get; }

    /// <summary>A consistent-enough copy of the figures (each read atomically).</summary>
    public DtlsStatusSnapshot Snapshot() => new(
        ActiveConnections: Interlocked.Read(ref _activeConnections),
        HandshakesCompleted: Interlocked.Read(ref _handshakesCompleted),
        HandshakesResumed: Interlocked.Read(ref _handshakesResumed),
        HandshakesFailed: Interlocked.Read(ref _handshakesFailed),
        RefusedPeers: Interlocked.Read(ref _refusedPeers),
        CookiesSent: Interlocked.Read(ref _cookiesSent),
        DroppedDatagrams: Interlocked.Read(ref _droppedDatagrams),
        ReceivedBytes: Interlocked.Read(ref _receivedBytes),
        SentBytes: Interlocked.Read(ref _sentBytes),
        ReceivedRecords: Interlocked.Read(ref _receivedRecords),
        SentRecords: Interlocked.Read(ref _sentRecords),
        UptimeSeconds: Math.Round((Clock.GetUtcNow() - _started).TotalSeconds, 1));

    private void OnLong(string instrument, long value)
    {
        switch (instrument)
        {
            case "dtls.active_connections": Interlocked.Add(ref _activeConnections, value); break;
            case "dtls.refused_peers": Interlocked.Add(ref _refusedPeers, value); break;
            case "dtls.cookies_sent": Interlocked.Add(ref _cookiesSent, value); break;
            case "dtls.dropped_datagrams": Interlocked.Add(ref _droppedDatagrams, value); break;
            case "dtls.received_bytes": Interlocked.Add(ref _receivedBytes, value); break;
            case "dtls.sent_bytes": Interlocked.Add(ref _sentBytes, value); break;
            case "dtls.received_records": Interlocked.Add(ref _receivedRecords, value); break;
            case "dtls.sent_records": Interlocked.Add(ref _sentRecords, value); break;
        }
    }

    private void OnHandshake(string instrument, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        if (instrument != "dtls.handshake.duration")
        {
            return;
        }

        bool failed = false, resumed = false;
        foreach (var tag in tags)
        {
            failed |= tag.Key == "error.type";
            resumed |= tag.Key == "dtls.resumed" && tag.Value is true;
        }

        Interlocked.Increment(ref failed ? ref _handshakesFailed : ref _handshakesCompleted);
        if (resumed)
        {
            Interlocked.Increment(ref _handshakesResumed);
        }
    }

    public void Dispose() => _listener.Dispose();
}

/// <summary>The status page's figures.</summary>
public sealed record DtlsStatusSnapshot(
    long ActiveConnections,
    long HandshakesCompleted,
    long HandshakesResumed,
    long HandshakesFailed,
    long RefusedPeers,
    long CookiesSent,
    long DroppedDatagrams,
    long ReceivedBytes,
    long SentBytes,
    long ReceivedRecords,
    long SentRecords,
    double UptimeSeconds);
