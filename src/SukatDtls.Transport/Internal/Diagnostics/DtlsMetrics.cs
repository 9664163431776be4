using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The transport's instruments, on the meter <c>SukatDtls.Transport</c>, named in the style of Kestrel's own
/// (<c>kestrel.active_connections</c>, <c>kestrel.connection.duration</c>, …). Watch them with
/// <c>dotnet-counters monitor --counters SukatDtls.Transport</c>.
/// </summary>
internal sealed class DtlsMetrics
{
    public const string MeterName = "SukatDtls.Transport";

    private readonly UpDownCounter<long> _activeConnections;
    private readonly Histogram<double> _connectionDuration;
    private readonly UpDownCounter<long> _activeHandshakes;
    private readonly Histogram<double> _handshakeDuration;
    private readonly Counter<long> _refusedPeers;
    private readonly Counter<long> _evictedHandshakes;
    private readonly Counter<long> _migrations;
    private readonly Counter<long> _cookiesSent;
    private readonly Counter<long> _droppedDatagrams;
    private readonly Counter<long> _receivedBytes;
    private readonly Counter<long> _sentBytes;
    private readonly Counter<long> _receivedRecords;
    private readonly Counter<long> _sentRecords;
    private readonly Counter<long> _sessionLookups;

    public DtlsMetrics(IMeterFactory meterFactory)
    {
        var meter = meterFactory.Create(MeterName);
        _activeConnections = meter.CreateUpDownCounter<long>("dtls.active_connections", "{connection}",
            "Established DTLS connections.");
        _connectionDuration = meter.CreateHistogram<double>("dtls.connection.duration", "s",
            "How long established DTLS connections lasted.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.01, 0.1, 1, 10, 60, 300, 1800, 3600, 21600, 86400] });
        _activeHandshakes = meter.CreateUpDownCounter<long>("dtls.active_handshakes", "{handshake}",
            "DTLS handshakes in progress (computing, or waiting for the peer).");
        _handshakeDuration = meter.CreateHistogram<double>("dtls.handshake.duration", "s",
            "How long DTLS handshakes took, from the verified ClientHello to the last Finished.",
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10] });
        _refusedPeers = meter.CreateCounter<long>("dtls.refused_peers", "{peer}",
            "Verified peers turned away by a limit (tag reason).");
        _evictedHandshakes = meter.CreateCounter<long>("dtls.evicted_handshakes", "{handshake}",
            "Handshakes that had long waited for a silent peer and gave their place to a new verified peer.");
        _migrations = meter.CreateCounter<long>("dtls.connection.migrations", "{migration}",
            "Established connections whose peer moved to another address (RFC 9146 Connection IDs).");
        _cookiesSent = meter.CreateCounter<long>("dtls.cookies_sent", "{datagram}",
            "HelloVerifyRequests sent to peers that had no valid cookie.");
        _droppedDatagrams = meter.CreateCounter<long>("dtls.dropped_datagrams", "{datagram}",
            "Datagrams dropped before BouncyCastle (tag reason).");
        _receivedBytes = meter.CreateCounter<long>("dtls.received_bytes", "By", "Application bytes received.");
        _sentBytes = meter.CreateCounter<long>("dtls.sent_bytes", "By", "Application bytes sent.");
        _receivedRecords = meter.CreateCounter<long>("dtls.received_records", "{record}", "Application records received.");
        _sentRecords = meter.CreateCounter<long>("dtls.sent_records", "{record}", "Application records sent.");
        _sessionLookups = meter.CreateCounter<long>("dtls.session_cache.lookups", "{lookup}",
            "Session IDs offered by clients and looked up in the session cache (tag result: hit, miss or error; error.type for errors).");
    }

    public void ConnectionStarted() => _activeConnections.Add(1);

    public void ConnectionEnded(TimeSpan duration)
    {
        _activeConnections.Add(-1);
        _connectionDuration.Record(duration.TotalSeconds);
    }

    public void HandshakeStarted() => _activeHandshakes.Add(1);

    public void HandshakeEnded(TimeSpan duration, string? cipherSuite, bool resumed, string? errorType)
    {
        _activeHandshakes.Add(-1);
        var tags = new TagList { { "dtls.resumed", resumed } };
        if (cipherSuite is not null)
        {
            tags.Add("tls.cipher", cipherSuite);
        }

        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
        }

        _handshakeDuration.Record(duration.TotalSeconds, tags);
    }

    public void PeerRefused(string reason) => _refusedPeers.Add(1, new KeyValuePair<string, object?>("reason", reason));

    public void HandshakeEvicted() => _evictedHandshakes.Add(1);

    public void ConnectionMigrated() => _migrations.Add(1);

    public void CookieSent() => _cookiesSent.Add(1);

    public void DatagramDropped(string reason) => _droppedDatagrams.Add(1, new KeyValuePair<string, object?>("reason", reason));

    /// <param name="result"><c>hit</c>, <c>miss</c> or <c>error</c>.</param>
    /// <param name="errorType">For errors: <c>timeout</c>, <c>unavailable</c>, <c>undecryptable</c> or the exception's type.</param>
    public void SessionLookup(string result, string? errorType = null)
    {
        var tags = new TagList { { "result", result } };
        if (errorType is not null)
        {
            tags.Add("error.type", errorType);
        }

        _sessionLookups.Add(1, tags);
    }

    public void RecordReceived(int bytes)
    {
        _receivedRecords.Add(1);
        _receivedBytes.Add(bytes);
    }

    public void RecordSent(int bytes)
    {
        _sentRecords.Add(1);
        _sentBytes.Add(bytes);
    }
}
