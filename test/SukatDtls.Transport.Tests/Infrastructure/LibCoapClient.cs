using System.Text.RegularExpressions;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// libcoap's command-line clients (package libcoap3-bin, version 4.3): <c>coap-client-openssl</c> and
/// <c>coap-client-gnutls</c>, the same client on two DTLS stacks. Missing clients are an error, not a skip: CI installs
/// them.
/// </summary>
/// <remarks>
/// Their exit code is 0 whatever happened (a refused handshake, a timeout), so a run is judged by its output: the
/// response's payload on standard output, and libcoap's log lines (<c>Dec 04 22:57:11.512 WARN …</c>, at its default
/// level warnings and worse), which it writes to either stream.
/// </remarks>
internal static partial class LibCoapClient
{
    private static int s_clients;

    /// <summary>The <c>coap-client-BUILD</c> executable ("openssl", "gnutls"); throws with instructions when it is not installed.</summary>
    public static string Path(string build) => ExternalProcess.FindOnPath($"coap-client-{build}") ?? throw new InvalidOperationException(
        $"coap-client-{build} is not on PATH, and the CoAP interop tests need libcoap's clients. "
        + "Install them (Debian/Ubuntu: apt-get install libcoap3-bin; .ci/run does this in CI).");

    /// <summary>
    /// Runs <c>coap-client-BUILD -B 15 ARGUMENTS URI</c> to its end (it gives up by itself after 15 s without an answer),
    /// within <paramref name="timeout"/>; the process has exited and its output is complete when this returns.
    /// </summary>
    /// <remarks>
    /// 15 s, not 5: the CoAP sample runs JIT-compiled in the tests, and its first handshake while the parallel tests load
    /// both cores took 3.6 s once, which with the client's own start left it no time for the answer (seen twice in CI
    /// runs). A refused handshake still ends the client at once, by its alert.
    /// </remarks>
    public static async Task<ExternalProcess> RunAsync(string build, string uri, ITestOutputHelper? output, TimeSpan timeout, params string[] arguments)
    {
        int number = Interlocked.Increment(ref s_clients);
        var client = ExternalProcess.Start($"coap-client-{build}#{number}", Path(build), ["-B", "15", .. arguments, uri], output);
        if (!await client.WaitForExitAsync(timeout))
        {
            await client.DisposeAsync();
            throw new TimeoutException($"coap-client-{build} did not end within {timeout.TotalSeconds:0} s.");
        }

        return client;
    }

    /// <summary>
    /// The payload of the response: what it printed on standard output besides its log lines (it logs there too; it adds
    /// no newline after the payload).
    /// </summary>
    public static string Payload(ExternalProcess client) =>
        string.Join('\n', client.StandardOutputLines.Where(line => !LogLine().IsMatch(line)));

    /// <summary>libcoap's log lines (WARN and worse at its default level), on either stream: a refusal's alert is there.</summary>
    public static IReadOnlyList<string> LogLines(ExternalProcess client) =>
        client.StandardErrorLines.Concat(client.StandardOutputLines).Where(line => LogLine().IsMatch(line)).ToArray();

    /// <summary>
    /// libcoap's log lines of level ERR or worse: every failed request ends with one ("ERR cannot send CoAP pdu").
    /// WARN lines alone are not failures: GnuTLS warns, for one, about a retransmitted handshake record it discards,
    /// which a handshake slower than the client's 1 s retransmission timer brings about.
    /// </summary>
    public static IReadOnlyList<string> ErrorLines(ExternalProcess client) =>
        LogLines(client).Where(line => ErrorLevel().IsMatch(line)).ToArray();

    /// <summary>"Dec 04 22:57:11.512 WARN …": libcoap's log line.</summary>
    [GeneratedRegex(@"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d\.\d{3} [A-Z]+ ")]
    private static partial Regex LogLine();

    [GeneratedRegex(@"^[A-Z][a-z]{2} [ 0-9]\d \d\d:\d\d:\d\d\.\d{3} (ERR|CRIT|ALRT|EMRG) ")]
    private static partial Regex ErrorLevel();
}
