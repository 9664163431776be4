using System.Globalization;
using System.Net;

namespace SukatDtls.Samples.EchoServer;

/// <summary>
/// The status page: live transport and process figures as JSON (<c>/status</c>) and as a page for people (<c>/</c>).
/// The JSON names are the <see cref="DtlsStatusSnapshot"/> properties in camelCase (<c>handshakesCompleted</c>,
/// <c>gcAllocatedBytes</c>, …); the benchmark reads them, so they stay as they are (see README.md next to this file).
/// </summary>
public static class StatusPage
{
    /// <summary>Maps <c>GET /status</c> (JSON) and <c>GET /</c> (HTML, refreshing every 2 s).</summary>
    public static IEndpointRouteBuilder MapDtlsStatusPage(this IEndpointRouteBuilder endpoints)
    {
        endpoints.MapGet("/status", (DtlsStatus status) => Results.Json(status.Snapshot(), StatusJsonContext.Default.DtlsStatusSnapshot));
        endpoints.MapGet("/", (DtlsStatus status) => Results.Content(Render(status.Snapshot()), "text/html; charset=utf-8"));
        return endpoints;
    }

    private static string Render(DtlsStatusSnapshot s)
    {
        static string Row(string name, object value) =>
            $"<tr><th>{WebUtility.HtmlEncode(name)}</th><td>{WebUtility.HtmlEncode(Convert.ToString(value, CultureInfo.InvariantCulture))}</td></tr>";

        return $$"""
            <!doctype html>
            <html lang="en">
            <head>
            <meta charset="utf-8"><meta http-equiv="refresh" content="2">
            <title>DTLS echo server</title>
            <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}th,td{padding:.3em 1em;border-bottom:1px solid #ddd;text-align:left}td{text-align:right;font-variant-numeric:tabular-nums}</style>
            </head>
            <body>
            <h1>DTLS echo server</h1>
            <table>
            {{Row("Active connections", s.ActiveConnections)}}
            {{Row("Handshakes completed", s.HandshakesCompleted)}}
            {{Row("… of which resumed", s.HandshakesResumed)}}
            {{Row("Handshakes failed", s.HandshakesFailed)}}
            {{Row("Refused peers", s.RefusedPeers)}}
            {{Row("Cookies sent", s.CookiesSent)}}
            {{Row("Dropped datagrams", s.DroppedDatagrams)}}
            {{Row("Bytes received", s.ReceivedBytes)}}
            {{Row("Bytes sent", s.SentBytes)}}
            {{Row("Records received", s.ReceivedRecords)}}
            {{Row("Records sent", s.SentRecords)}}
            {{Row("Session store", s.SessionStore)}}
            {{Row("Session lookups: hit / miss / error", $"{s.SessionLookupsHit} / {s.SessionLookupsMiss} / {s.SessionLookupsError}")}}
            {{Row("Uptime (s)", s.UptimeSeconds)}}
            </table>
            <h2>Process</h2>
            <table>
            {{Row("GC bytes allocated", s.GcAllocatedBytes)}}
            {{Row("GC collections (gen 0 / 1 / 2)", $"{s.GcGen0Collections} / {s.GcGen1Collections} / {s.GcGen2Collections}")}}
            {{Row("GC heap (bytes)", s.GcHeapBytes)}}
            {{Row("GC committed (bytes)", s.GcCommittedBytes)}}
            {{Row("GC pauses (ms)", s.GcPauseMilliseconds)}}
            {{Row("JIT-compiled methods", s.JitCompiledMethods)}}
            {{Row("JIT time (ms)", s.JitCompilationMilliseconds)}}
            {{Row("Thread-pool threads", s.ThreadPoolThreads)}}
            {{Row("Thread-pool work items run", s.ThreadPoolCompletedWorkItems)}}
            </table>
            <p>As JSON: <a href="/status">/status</a>. Live counters: <code>dotnet-counters monitor --counters SukatDtls.Transport</code>.</p>
            </body>
            </html>
            """;
    }
}
