using System.Net;
using System.Net.Sockets;
using StackExchange.Redis;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A real <c>redis-server</c> of the test's own (Debian package redis-server; CI installs it), on a free loopback port,
/// in the foreground as a child process, with no persistence: started ready (it printed "Ready to accept
/// connections"), stopped and started again on the same port, killed on dispose. Missing redis-server is an error, not a
/// skip. <see cref="Database"/> is a connection of the test's own, for looking at and changing what is stored.
/// </summary>
internal sealed class RedisServer : IAsyncDisposable
{
    private static readonly TimeSpan s_ready = TimeSpan.FromSeconds(10);
    private static readonly Lazy<string?> s_path = new(() => ExternalProcess.FindOnPath("redis-server"));
    private static int s_instances;

    private readonly ITestOutputHelper? _output;
    private readonly int _number = Interlocked.Increment(ref s_instances);
    private ExternalProcess? _process;
    private ConnectionMultiplexer? _connection;

    private RedisServer(ITestOutputHelper? output, int port)
    {
        _output = output;
        Port = port;
    }

    public int Port { get; }

    /// <summary>For <c>RedisCacheOptions.Configuration</c>: this server, and keep trying when it is down.</summary>
    public string Configuration => $"127.0.0.1:{Port},abortConnect=false,connectTimeout=2000";

    public static string Path => s_path.Value ?? throw new InvalidOperationException(
        "redis-server is not on PATH, and the distributed session tests need it. "
        + "Install it (Debian/Ubuntu: apt-get install redis-server; .ci/run does this in CI).");

    /// <summary>Starts a server on a free port (another one when the port was taken meanwhile).</summary>
    public static async Task<RedisServer> StartAsync(ITestOutputHelper? output)
    {
        for (int attempt = 1; ; attempt++)
        {
            var server = new RedisServer(output, FreeTcpPort());
            try
            {
                await server.StartProcessAsync();
                return server;
            }
            catch (Exception ex) when (attempt < 5 && ex is EndOfStreamException or TimeoutException)
            {
                // Most likely the port was taken between our probe and redis-server's bind: another port.
                await server.DisposeAsync();
            }
        }
    }

    /// <summary>Our own connection to the server, for looking at and changing stored sessions.</summary>
    public async Task<IDatabase> DatabaseAsync()
    {
        _connection ??= await ConnectionMultiplexer.ConnectAsync(Configuration);
        return _connection.GetDatabase();
    }

    /// <summary>Kills the server (as a crash would: no goodbye to the clients).</summary>
    public async Task StopAsync()
    {
        if (_process is { } process)
        {
            _process = null;
            await process.DisposeAsync();
        }
    }

    /// <summary>Starts the server again on the same port (empty: nothing is persisted).</summary>
    public async Task RestartAsync()
    {
        await StopAsync();
        var deadline = DateTime.UtcNow + s_ready;
        while (true)
        {
            try
            {
                await StartProcessAsync();
                return;
            }
            catch (EndOfStreamException) when (DateTime.UtcNow < deadline)
            {
                // The old socket may linger a moment; redis-server exits when it cannot bind. Try again, bounded.
                await Task.Delay(100);
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (_connection is not null)
        {
            await _connection.DisposeAsync();
        }

        await StopAsync();
    }

    private async Task StartProcessAsync()
    {
        var process = ExternalProcess.Start($"redis#{_number}", Path,
            ["--port", Port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            _output);
        try
        {
            await process.WaitForLineAsync(line => line.Contains("Ready to accept connections", StringComparison.Ordinal), s_ready,
                "Ready to accept connections");
        }
        catch
        {
            await process.DisposeAsync();
            throw;
        }

        _process = process;
    }

    private static int FreeTcpPort()
    {
        using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        probe.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        return ((IPEndPoint)probe.LocalEndPoint!).Port;
    }
}
