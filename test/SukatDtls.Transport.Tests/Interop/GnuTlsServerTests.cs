using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// Our client against GnuTLS's <c>gnutls-serv --udp --echo</c>: the CoAP profile's suites (AES-128-CCM and CCM_8 with
/// an ECDSA certificate), against an implementation other than BouncyCastle.
/// Each test starts its own gnutls-serv and ends every connection with close_notify (gnutls-serv serves one client at a
/// time and wedges when one vanishes).
/// </summary>
public sealed class GnuTlsServerTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private const string Dtls12Ecdsa = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA";

    // The shortest record, the AES block edges, and one near the datagram limit.
    private static readonly string[] s_lines = ["a", new string('b', 15), new string('c', 16), new string('d', 17), new string('e', 1100)];

    private readonly ITestOutputHelper _output;

    public GnuTlsServerTests(ITestOutputHelper output)
    {
        _output = output;
        output.WriteLine($"gnutls-serv: {GnuTlsServ.Path}");
    }

    public static TheoryData<string, string> CcmSuites => new()
    {
        { "AES-128-CCM-8", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8" },
        { "AES-128-CCM", "TLS_ECDHE_ECDSA_WITH_AES_128_CCM" },
    };

    [Theory]
    [MemberData(nameof(CcmSuites))]
    public async Task Our_client_exchanges_records_with_gnutls_serv_in_the_ECDSA_CCM_suites(string gnuTlsCipher, string ianaName)
    {
        var (server, port) = await GnuTlsServ.StartAsync($"{Dtls12Ecdsa}:-CIPHER-ALL:+{gnuTlsCipher}", _output, Step,
            "--x509certfile", TestCertificates.ServerPem, "--x509keyfile", TestCertificates.ServerKey);
        await using (server)
        {
            await using var factory = Factory(o => o.TrustedCertificateAuthorities = TestClientCertificates.DevCa());
            await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            var session = connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.Equal(ianaName, session.CipherSuiteName);
            await EchoAsync(connection);
        }
    }

    private static DtlsConnectionFactory Factory(Action<DtlsClientOptions> configure)
    {
        var options = new DtlsClientOptions();
        configure(options);
        return new DtlsConnectionFactory(Options.Create(options), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
    }

    /// <summary>gnutls-serv --echo sends each record back.</summary>
    private static async Task EchoAsync(ConnectionContext connection)
    {
        foreach (string line in s_lines)
        {
            await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(line + "\n"));
            Assert.Equal(line + "\n", await OpenSslCli.ReadTextAsync(connection, line.Length + 1, Step));
        }
    }
}
