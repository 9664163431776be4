using System.Net;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// Our client against GnuTLS's <c>gnutls-serv --udp --echo</c>: the CoAP profile's suites (AES-128-CCM and CCM_8 with
/// an ECDSA certificate) and raw public keys (RFC 7250) both ways, against an implementation other than BouncyCastle.
/// Each test starts its own gnutls-serv and ends every connection with close_notify (gnutls-serv serves one client at a
/// time and wedges when one vanishes).
/// </summary>
public sealed class GnuTlsServerTests : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private const string Dtls12Ecdsa = "NORMAL:-VERS-ALL:+VERS-DTLS1.2:-KX-ALL:+ECDHE-ECDSA";

    // The shortest record, the AES block edges, and one near the datagram limit.
    private static readonly string[] s_lines = ["a", new string('b', 15), new string('c', 16), new string('d', 17), new string('e', 1100)];

    private readonly ITestOutputHelper _output;
    private readonly string _directory = Directory.CreateTempSubdirectory("sukat-dtls-gnutls-").FullName;

    public GnuTlsServerTests(ITestOutputHelper output)
    {
        _output = output;
        output.WriteLine($"gnutls-serv: {GnuTlsServ.Path}");
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

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
            Assert.Equal(DtlsPeerAuthentication.Certificate, session.PeerAuthentication);
            await EchoAsync(connection);
        }
    }

    [Fact]
    public async Task Our_client_accepts_the_raw_public_key_gnutls_serv_presents_when_it_is_the_pinned_one()
    {
        // A server with a raw public key only: no certificate to fall back on.
        string publicKey = WritePublicKey(TestCertificates.ServerKey);
        using var serverKey = TestRawPublicKeys.ServerKey();
        var (server, port) = await GnuTlsServ.StartAsync($"{Dtls12Ecdsa}:-CIPHER-ALL:+AES-128-CCM-8:+CTYPE-SRV-RAWPK", _output, Step,
            "--rawpkkeyfile", TestCertificates.ServerKey, "--rawpkfile", publicKey);
        await using (server)
        {
            await using var factory = Factory(o => o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(serverKey));
            await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            var session = connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.Equal("TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8", session.CipherSuiteName);
            Assert.Equal(DtlsPeerAuthentication.RawPublicKey, session.PeerAuthentication);
            Assert.Equal(serverKey.ExportSubjectPublicKeyInfo(), session.PeerRawPublicKey.ToArray());
            Assert.Null(session.PeerCertificate);
            await EchoAsync(connection);
        }
    }

    // Without a key of ours this server cannot complete the handshake (tried by hand: the client times out, and
    // gnutls-serv then spins on its socket for good, so that case is not run here); the echo proves we sent ours.
    [Fact]
    public async Task Gnutls_serv_requiring_a_client_key_accepts_our_raw_public_key()
    {
        string serverPublicKey = WritePublicKey(TestCertificates.ServerKey);
        using var serverKey = TestRawPublicKeys.ServerKey();
        using var clientKey = TestRawPublicKeys.ClientKey();
        var (server, port) = await GnuTlsServ.StartAsync($"{Dtls12Ecdsa}:-CIPHER-ALL:+AES-128-CCM-8:+CTYPE-SRV-RAWPK:+CTYPE-CLI-RAWPK", _output, Step,
            "--rawpkkeyfile", TestCertificates.ServerKey, "--rawpkfile", serverPublicKey, "--require-client-cert");
        await using (server)
        {
            await using var factory = Factory(o =>
            {
                o.ClientRawPublicKey = clientKey;
                o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(serverKey);
            });
            await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port));
            Assert.Equal(DtlsPeerAuthentication.RawPublicKey, connection.Features.Get<IDtlsSessionFeature>()!.PeerAuthentication);
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

    /// <summary>The PEM public key of a private key file (gnutls-serv's --rawpkfile).</summary>
    private string WritePublicKey(string privateKeyPath)
    {
        using var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(privateKeyPath));
        string path = Path.Combine(_directory, Path.GetFileNameWithoutExtension(privateKeyPath) + ".pub");
        File.WriteAllText(path, key.ExportSubjectPublicKeyInfoPem());
        return path;
    }
}
