namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>The openssl command-line tool, for interop tests. Missing openssl is an error, not a skip: CI installs it.</summary>
internal static class OpenSslCli
{
    private static readonly Lazy<string?> s_path = new(() => ExternalProcess.FindOnPath("openssl"));

    /// <summary>The openssl executable; throws with instructions when it is not installed.</summary>
    public static string Path => s_path.Value ?? throw new InvalidOperationException(
        "The openssl command-line tool is not on PATH, and the interop tests need it as the DTLS peer. "
        + "Install it (Debian/Ubuntu: apt-get install openssl; .ci/run does this in CI).");

    private static int s_clients;

    /// <summary>
    /// Starts <c>openssl s_client -dtls1_2 -connect TARGET -quiet</c> (the README's command) plus
    /// <paramref name="extraArguments"/>. With <c>-quiet</c> standard output carries only the received application
    /// data, and end of standard input does not end the client: kill it (dispose) when done.
    /// </summary>
    public static ExternalProcess StartDtlsClient(string connect, ITestOutputHelper? output, params string[] extraArguments)
    {
        string path = Path;
        int number = Interlocked.Increment(ref s_clients);
        return ExternalProcess.Start($"s_client#{number}", path,
            ["s_client", "-dtls1_2", "-connect", connect, "-quiet", .. extraArguments], output);
    }

    /// <summary>
    /// Runs <c>openssl s_client -dtls1_2 -connect TARGET</c> plus <paramref name="arguments"/> (e.g. <c>-sess_out FILE</c>,
    /// <c>-sess_in FILE</c>) without <c>-quiet</c>, so it reports the session ("New, TLSv1.2" or "Reused, TLSv1.2"); sends
    /// a line, waits for its echo, closes standard input; returns what it printed.
    /// </summary>
    public static async Task<string> RunEchoingClientAsync(string target, ITestOutputHelper? output, TimeSpan timeout, params string[] arguments)
    {
        await using var client = ExternalProcess.Start($"s_client#{Interlocked.Increment(ref s_clients)}", Path,
            ["s_client", "-dtls1_2", "-connect", target, .. arguments], output);
        await client.WriteLineAsync("ping");
        await client.WaitForLineAsync(line => line == "ping", timeout, "the echo");
        client.CloseStandardInput();
        Assert.True(await client.WaitForExitAsync(timeout), "s_client did not exit after end of input");
        return string.Join('\n', client.StandardOutputLines);
    }

    /// <summary>The port an <c>openssl s_server -accept ADDRESS:0</c> reports on its <c>ACCEPT</c> line.</summary>
    public static async Task<int> AcceptPortAsync(ExternalProcess server, TimeSpan timeout)
    {
        string accept = await server.ReadLineAsync(timeout, l => l.StartsWith("ACCEPT ", StringComparison.Ordinal), "ACCEPT ADDRESS:PORT");
        return int.Parse(accept[(accept.LastIndexOf(':') + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Reads from a connection's input until at least <paramref name="length"/> bytes (or the end) arrived, as UTF-8.</summary>
    public static async Task<string> ReadTextAsync(Microsoft.AspNetCore.Connections.ConnectionContext connection, int length, TimeSpan timeout)
    {
        var input = connection.Transport.Input;
        while (true)
        {
            var result = await input.ReadAsync().AsTask().WaitAsync(timeout);
            if (result.Buffer.Length >= length || result.IsCompleted)
            {
                string text = System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(result.Buffer));
                input.AdvanceTo(result.Buffer.End);
                return text;
            }

            input.AdvanceTo(result.Buffer.Start, result.Buffer.End);
        }
    }
}
