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
}
