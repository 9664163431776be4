namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// GnuTLS's command-line client (<c>gnutls-cli</c>, package gnutls-bin), for interop tests. Missing gnutls-cli is an
/// error, not a skip: CI installs it.
/// </summary>
internal static class GnuTlsCli
{
    private static readonly Lazy<string?> s_path = new(() => ExternalProcess.FindOnPath("gnutls-cli"));

    /// <summary>The gnutls-cli executable; throws with instructions when it is not installed.</summary>
    public static string Path => s_path.Value ?? throw new InvalidOperationException(
        "The gnutls-cli command-line tool is not on PATH, and the GnuTLS interop tests need it as the DTLS client. "
        + "Install it (Debian/Ubuntu: apt-get install gnutls-bin; .ci/run does this in CI).");

    private static int s_clients;

    /// <summary>
    /// Starts <c>gnutls-cli --udp -p PORT --priority PRIORITY</c> plus <paramref name="extraArguments"/>, then
    /// <paramref name="host"/>. Standard output carries its session report ("- Description: ...", "- Handshake was
    /// completed", ...) followed by the received application data; each line written to standard input is sent as one
    /// record (the line and its "\n"). At the end of standard input it sends close_notify, waits for the server's, and
    /// exits 0. Without <c>--insecure</c> a server certificate that does not verify ends the handshake (exit 1).
    /// </summary>
    public static ExternalProcess StartDtlsClient(string host, int port, string priority, ITestOutputHelper? output,
        params string[] extraArguments)
    {
        string path = Path;
        int number = Interlocked.Increment(ref s_clients);
        return ExternalProcess.Start($"gnutls-cli#{number}", path,
            ["--udp", "-p", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--priority", priority, .. extraArguments, host],
            output);
    }

    /// <summary>The session description gnutls-cli prints after the handshake, without its "- Description: " prefix.</summary>
    public static async Task<string> DescriptionAsync(ExternalProcess client, TimeSpan timeout)
    {
        const string Prefix = "- Description: ";
        string line = await client.WaitForLineAsync(l => l.StartsWith(Prefix, StringComparison.Ordinal), timeout, "'- Description: ...'");
        return line[Prefix.Length..].Trim();
    }
}
