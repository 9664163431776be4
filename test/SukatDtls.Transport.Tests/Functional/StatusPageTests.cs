using System.Net.Http.Json;
using System.Text.Json;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Samples.EchoServer;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>The echo sample's status page: in memory through TestHost, and live in the real sample process.</summary>
public sealed class StatusPageTests(ITestOutputHelper output)
{
    private static readonly JsonSerializerOptions s_json = new(JsonSerializerDefaults.Web);

    [Fact]
    public async Task The_status_page_shows_the_transport_figures_as_json_and_html()
    {
        var builder = WebApplication.CreateBuilder();
        builder.WebHost.UseTestServer();
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<DtlsStatus>();
        await using var app = builder.Build();
        app.MapDtlsStatusPage();
        app.Services.GetRequiredService<DtlsStatus>();
        await app.StartAsync();

        // The transport's own instruments, on this host's meter factory.
        var metrics = new DtlsMetrics(app.Services.GetRequiredService<System.Diagnostics.Metrics.IMeterFactory>());
        metrics.HandshakeStarted();
        metrics.HandshakeEnded(TimeSpan.FromMilliseconds(3), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", resumed: false, errorType: null);
        metrics.HandshakeStarted();
        metrics.HandshakeEnded(TimeSpan.FromMilliseconds(1), "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", resumed: true, errorType: null);
        metrics.HandshakeStarted();
        metrics.HandshakeEnded(TimeSpan.FromSeconds(10), null, resumed: false, errorType: "timeout");
        metrics.ConnectionStarted();
        metrics.ConnectionStarted();
        metrics.ConnectionEnded(TimeSpan.FromSeconds(1));
        metrics.PeerRefused("connection_limit");
        metrics.CookieSent();
        metrics.CookieSent();
        metrics.DatagramDropped("filtered");
        metrics.RecordReceived(5);
        metrics.RecordSent(5);
        metrics.RecordSent(7);
        metrics.SessionLookup("hit");
        metrics.SessionLookup("hit");
        metrics.SessionLookup("miss");
        metrics.SessionLookup("error", "timeout");

        using var client = app.GetTestClient();
        var status = (await client.GetFromJsonAsync<DtlsStatusSnapshot>("/status", s_json))!;
        Assert.Equal(1, status.ActiveConnections);
        Assert.Equal(2, status.HandshakesCompleted);
        Assert.Equal(1, status.HandshakesResumed);
        Assert.Equal(1, status.HandshakesFailed);
        Assert.Equal(1, status.RefusedPeers);
        Assert.Equal(2, status.CookiesSent);
        Assert.Equal(1, status.DroppedDatagrams);
        Assert.Equal(5, status.ReceivedBytes);
        Assert.Equal(12, status.SentBytes);
        Assert.Equal(1, status.ReceivedRecords);
        Assert.Equal(2, status.SentRecords);
        Assert.Equal("memory", status.SessionStore);
        Assert.Equal(2, status.SessionLookupsHit);
        Assert.Equal(1, status.SessionLookupsMiss);
        Assert.Equal(1, status.SessionLookupsError);

        // The process's runtime figures, under the JSON names the benchmark reads. This is the test's own process, so
        // each figure that only rises must lie between what the runtime said just before and just after the request.
        // Gen 0 and gen 1 collections first, so that the three generation counts differ and a mix-up shows.
        GC.Collect(0, GCCollectionMode.Forced);
        GC.Collect(0, GCCollectionMode.Forced);
        GC.Collect(1, GCCollectionMode.Forced);
        var before = RuntimeFigures.Now();
        string body = await client.GetStringAsync("/status");
        var after = RuntimeFigures.Now();
        using (var json = JsonDocument.Parse(body))
        {
            foreach (string name in RuntimeFigureNames)
            {
                Assert.True(json.RootElement.TryGetProperty(name, out var value), $"/status has no {name}");
                Assert.Equal(JsonValueKind.Number, value.ValueKind);
            }

            double Figure(string name) => json.RootElement.GetProperty(name).GetDouble();
            Assert.InRange(Figure("gcAllocatedBytes"), before.AllocatedBytes, after.AllocatedBytes);
            Assert.InRange(Figure("gcGen0Collections"), before.Gen0, after.Gen0);
            Assert.InRange(Figure("gcGen1Collections"), before.Gen1, after.Gen1);
            Assert.InRange(Figure("gcGen2Collections"), before.Gen2, after.Gen2);
            Assert.InRange(Figure("gcPauseMilliseconds"), before.PauseMilliseconds - 0.001, after.PauseMilliseconds + 0.001);
            Assert.InRange(Figure("jitCompiledMethods"), before.JitMethods, after.JitMethods);
            Assert.InRange(Figure("jitCompilationMilliseconds"), before.JitMilliseconds - 0.001, after.JitMilliseconds + 0.001);

            // Not monotonic: plausible, and not one of the other figures.
            Assert.InRange(Figure("gcHeapBytes"), 1, before.AllocatedBytes);
            Assert.InRange(Figure("threadPoolThreads"), 1, 32_767);
        }

        var page = await client.GetStringAsync("/");
        Assert.Contains("<th>Active connections</th><td>1</td>", page);
        Assert.Contains("<th>Bytes sent</th><td>12</td>", page);
        Assert.Contains("<th>Session store</th><td>memory</td>", page);
        Assert.Contains("<th>Session lookups: hit / miss / error</th><td>2 / 1 / 1</td>", page);
        Assert.Contains("<th>JIT-compiled methods</th>", page);
    }

    /// <summary>This process's runtime figures that only rise, as the status page reads them.</summary>
    private sealed record RuntimeFigures(long AllocatedBytes, int Gen0, int Gen1, int Gen2, double PauseMilliseconds, long JitMethods, double JitMilliseconds)
    {
        public static RuntimeFigures Now() => new(GC.GetTotalAllocatedBytes(precise: false), GC.CollectionCount(0), GC.CollectionCount(1),
            GC.CollectionCount(2), GC.GetTotalPauseDuration().TotalMilliseconds, System.Runtime.JitInfo.GetCompiledMethodCount(currentThread: false),
            System.Runtime.JitInfo.GetCompilationTime(currentThread: false).TotalMilliseconds);
    }

    /// <summary>The runtime figures of <c>/status</c> (samples/EchoServer/README.md); the benchmark reads these names.</summary>
    private static readonly string[] RuntimeFigureNames =
    [
        "gcAllocatedBytes", "gcGen0Collections", "gcGen1Collections", "gcGen2Collections", "gcHeapBytes",
        "gcPauseMilliseconds", "jitCompiledMethods", "jitCompilationMilliseconds", "threadPoolThreads",
    ];

    [Fact]
    public async Task The_running_sample_reports_live_figures()
    {
        await using var sample = await EchoSampleProcess.StartAsync(output);
        using (var client = await TestDtlsClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, sample.Port)))
        {
            client.Send("hello status");
            Assert.Equal("hello status", client.ReceiveText());
            client.Close();
        }

        using var http = new HttpClient { BaseAddress = sample.StatusPage };
        // The connection ends on the sample's side once its close_notify is processed: poll (bounded) until it has.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        var status = (await http.GetFromJsonAsync<DtlsStatusSnapshot>("status", s_json))!;
        while (status.ActiveConnections != 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
            status = (await http.GetFromJsonAsync<DtlsStatusSnapshot>("status", s_json))!;
        }

        Assert.Equal(0, status.ActiveConnections);
        Assert.Equal(1, status.HandshakesCompleted);
        Assert.Equal(12, status.ReceivedBytes);
        Assert.Equal(12, status.SentBytes);

        // The sample's own process: it has allocated and compiled (a handshake at least), and the counters only rise.
        Assert.True(status.GcAllocatedBytes > 0);
        Assert.True(status.JitCompiledMethods > 0);
        Assert.True(status.JitCompilationMilliseconds > 0);
        Assert.True(status.ThreadPoolThreads > 0);
        Assert.True(status.ThreadPoolCompletedWorkItems > 0);
        Assert.True(status.GcHeapBytes > 0);
        var later = (await http.GetFromJsonAsync<DtlsStatusSnapshot>("status", s_json))!;
        Assert.True(later.GcAllocatedBytes >= status.GcAllocatedBytes);
        Assert.True(later.JitCompiledMethods >= status.JitCompiledMethods);
        Assert.True(later.GcGen0Collections >= status.GcGen0Collections);
        Assert.Contains("DTLS echo server", await http.GetStringAsync(""));
    }

    [Fact]
    public async Task Environment_configuration_changes_the_sample_without_code()
    {
        await using var sample = await EchoSampleProcess.StartAsync(output, extraEnvironment: new Dictionary<string, string?>
        {
            ["Dtls__CertificatePath"] = TestCertificates.ServerRsaPem,
            ["Dtls__KeyPath"] = TestCertificates.ServerRsaKey,
        });
        using var client = await TestDtlsClient.ConnectAsync(new System.Net.IPEndPoint(System.Net.IPAddress.Loopback, sample.Port));
        Assert.StartsWith("TLS_ECDHE_RSA_", SukatDtls.Transport.Internal.BouncyCastle.CipherSuiteNames.Get(client.CipherSuite));
    }

    [Fact]
    public async Task A_bad_configuration_value_stops_the_sample_with_a_message_naming_it()
    {
        await using var process = EchoSampleProcess.Launch(output, new Dictionary<string, string?>
        {
            ["Dtls__HandshakeTimeout"] = "-00:00:01",
        });
        Assert.True(await process.WaitForExitAsync(TimeSpan.FromSeconds(30)), "the sample kept running");
        Assert.Equal(1, process.ExitCode);
        Assert.Contains(process.StandardErrorLines, line => line.Contains("Dtls:HandshakeTimeout", StringComparison.Ordinal));
    }
}
