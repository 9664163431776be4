using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary><c>openssl s_client -sess_out</c> then <c>-sess_in</c> resumes its session against our server.</summary>
public sealed class OpenSslResumptionTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    /// <summary>Where s_client writes its session (<c>-sess_out</c>) and reads it back (<c>-sess_in</c>).</summary>
    private readonly string _sessionFile = Path.Combine(Path.GetTempPath(), $"dtls-session-{Guid.NewGuid():N}.pem");

    public void Dispose() => File.Delete(_sessionFile);

    private Task<DtlsTestHost> StartHostAsync() => DtlsTestHost.StartAsync<EchoConnectionHandler>(output,
        configureServices: s => Microsoft.Extensions.DependencyInjection.ServiceCollectionServiceExtensions.AddSingleton(s, new ConnectionObserver()));

    [Fact]
    public async Task Openssl_client_resumes_its_session()
    {
        await using var host = await StartHostAsync();
        string target = $"127.0.0.1:{host.DtlsEndPoint.Port}";
        Assert.Contains("New, TLSv1.2", await OpenSslCli.RunEchoingClientAsync(target, output, Step, "-sess_out", _sessionFile));
        Assert.True(File.Exists(_sessionFile));
        Assert.Contains("Reused, TLSv1.2", await OpenSslCli.RunEchoingClientAsync(target, output, Step, "-sess_in", _sessionFile));

        // Both by the server's own handshake: the full one, then the abbreviated one.
        Assert.Equal(2, host.Listener.Statistics.OwnHandshakesCompleted);
    }

    // The two server handshakes keep sessions in one format (BouncyCastle's TlsSession, SessionStateFormat in Redis):
    // a session either one made, the other resumes.
    [Theory]
    [InlineData(true)]
    [InlineData(false)]
    public async Task A_session_made_by_one_server_handshake_is_resumed_by_the_other(bool ownFirst)
    {
        await using var redis = await RedisServer.StartAsync(output);
        await using var nodeA = await Functional.DistributedSessionTests.StartNodeAsync(redis, output, configureDtls: o => o.UseOwnServerHandshake = ownFirst);
        await using var nodeB = await Functional.DistributedSessionTests.StartNodeAsync(redis, output, configureDtls: o => o.UseOwnServerHandshake = !ownFirst);
        await NewSessionStoredAsync(nodeA, redis);

        Assert.Contains("Reused, TLSv1.2", await OpenSslCli.RunEchoingClientAsync($"127.0.0.1:{nodeB.DtlsEndPoint.Port}", output, Step, "-sess_in", _sessionFile));
        Assert.Equal(ownFirst ? 1 : 0, nodeA.Listener.Statistics.OwnHandshakesCompleted);
        Assert.Equal(ownFirst ? 0 : 1, nodeB.Listener.Statistics.OwnHandshakesCompleted);
        Assert.Equal(1, nodeB.Listener.Statistics.HandshakesCompleted);
    }

    [Fact]
    public async Task A_session_resumes_with_its_own_suite_when_the_client_now_prefers_another()
    {
        // RFC 5246 §7.4.1.3: the abbreviated handshake keeps the session's suite. openssl aborts one that does not
        // ("old session cipher not returned"), and our server would choose by the client's new preference.
        await using var host = await StartHostAsync();
        string target = $"127.0.0.1:{host.DtlsEndPoint.Port}";
        Assert.Contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384", await OpenSslCli.RunEchoingClientAsync(
            target, output, Step, "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384", "-sess_out", _sessionFile));
        Assert.Contains("Reused, TLSv1.2, Cipher is ECDHE-ECDSA-AES256-GCM-SHA384", await OpenSslCli.RunEchoingClientAsync(
            target, output, Step, "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384", "-sess_in", _sessionFile));

        // A client that no longer offers the session's suite gets a full handshake, not an error.
        Assert.Contains("New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256", await OpenSslCli.RunEchoingClientAsync(
            target, output, Step, "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256", "-sess_in", _sessionFile));
    }

    [Fact]
    public async Task Openssl_client_resumes_on_node_B_a_session_it_made_on_node_A()
    {
        await using var redis = await RedisServer.StartAsync(output);
        await using var nodeA = await Functional.DistributedSessionTests.StartNodeAsync(redis, output);
        await using var nodeB = await Functional.DistributedSessionTests.StartNodeAsync(redis, output);
        await NewSessionStoredAsync(nodeA, redis);

        Assert.Contains("Reused, TLSv1.2", await OpenSslCli.RunEchoingClientAsync($"127.0.0.1:{nodeB.DtlsEndPoint.Port}", output, Step, "-sess_in", _sessionFile));
    }

    /// <summary>A full handshake of openssl with <paramref name="node"/>, its session saved to the file and stored in Redis.</summary>
    private async Task NewSessionStoredAsync(DtlsTestHost node, RedisServer redis)
    {
        string first = await OpenSslCli.RunEchoingClientAsync($"127.0.0.1:{node.DtlsEndPoint.Port}", output, Step, "-sess_out", _sessionFile);
        Assert.Contains("New, TLSv1.2", first);

        // The node stores the session in the background, after the handshake: wait (bounded) until Redis has it.
        string sessionId = first.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("Session-ID:", StringComparison.Ordinal))["Session-ID:".Length..].Trim();
        var database = await redis.DatabaseAsync();
        await Wait.UntilAsync(() => database.KeyExists(Functional.DistributedSessionTests.InstanceName + "dtls-session:" + sessionId));
    }

    [Fact]
    public async Task Two_echo_samples_with_only_the_redis_connection_string_share_sessions_and_show_it_on_the_status_page()
    {
        await using var redis = await RedisServer.StartAsync(output);
        var environment = new Dictionary<string, string?> { ["ConnectionStrings__Redis"] = redis.Configuration };
        await using var sampleA = await EchoSampleProcess.StartAsync(output, extraEnvironment: environment);
        await using var sampleB = await EchoSampleProcess.StartAsync(output, extraEnvironment: environment);
        string first = await OpenSslCli.RunEchoingClientAsync($"127.0.0.1:{sampleA.Port}", output, Step, "-sess_out", _sessionFile);
        Assert.Contains("New, TLSv1.2", first);
        string sessionId = first.Split('\n').Select(l => l.Trim()).First(l => l.StartsWith("Session-ID:", StringComparison.Ordinal))["Session-ID:".Length..].Trim();
        var database = await redis.DatabaseAsync();
        await Wait.UntilAsync(() => database.KeyExists("echo:dtls-session:" + sessionId));

        Assert.Contains("Reused, TLSv1.2", await OpenSslCli.RunEchoingClientAsync($"127.0.0.1:{sampleB.Port}", output, Step, "-sess_in", _sessionFile));

        using var http = new HttpClient();
        using var status = System.Text.Json.JsonDocument.Parse(await http.GetStringAsync(new Uri(sampleB.StatusPage!, "status")));
        Assert.StartsWith("redis 127.0.0.1:", status.RootElement.GetProperty("sessionStore").GetString(), StringComparison.Ordinal);
        Assert.Equal(1, status.RootElement.GetProperty("sessionLookupsHit").GetInt64());
        Assert.Equal(0, status.RootElement.GetProperty("sessionLookupsError").GetInt64());
        Assert.Contains(sampleA.Process.StandardErrorLines, l => l.Contains("development key", StringComparison.Ordinal));
    }
}
