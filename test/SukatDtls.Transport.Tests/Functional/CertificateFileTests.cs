using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Certificate files as the README promises them: a certificate renamed over the old one is reloaded, and the
/// intermediates after the certificate in its PEM file are sent as the chain.
/// </summary>
public sealed class CertificateFileTests(ITestOutputHelper output) : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sukat-dtls-files-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string InDirectory(string name) => Path.Combine(_directory, name);

    [Fact]
    public async Task A_certificate_renamed_over_the_old_one_is_reloaded()
    {
        File.Copy(TestCertificates.ServerPem, InDirectory("server.pem"));
        File.Copy(TestCertificates.ServerKey, InDirectory("server.key"));
        await using var host = await ConfiguredDtlsHost.StartAsync(output,
            ConfiguredDtlsHost.Section(("CertificatePath", InDirectory("server.pem")), ("KeyPath", InDirectory("server.key"))));

        // As certbot and friends do: write beside, then rename over (the old inode goes; a watcher of it would miss this).
        File.Copy(TestCertificates.ServerRsaKey, InDirectory("server.key.new"));
        File.Copy(TestCertificates.ServerRsaPem, InDirectory("server.pem.new"));
        File.Move(InDirectory("server.key.new"), InDirectory("server.key"), overwrite: true);
        File.Move(InDirectory("server.pem.new"), InDirectory("server.pem"), overwrite: true);
        await host.LogEntryAsync(41);

        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal(X509Certificate2.CreateFromPem(File.ReadAllText(TestCertificates.ServerRsaPem)).RawData, client.ServerCertificate!.GetEncoded());
        client.Send("renamed");
        Assert.Equal("renamed", client.ReceiveText());
    }

    [Fact]
    public async Task Intermediates_after_the_certificate_in_its_PEM_file_are_sent_as_the_chain()
    {
        // root → intermediate → leaf; the client trusts the root only, so it needs the intermediate from the server.
        var now = DateTimeOffset.UtcNow;
        using var rootKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var root = Authority("CN=Files Test Root", rootKey, null, null, now);
        using var intermediateKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var intermediate = Authority("CN=Files Test Intermediate", intermediateKey, root, rootKey, now);
        using var leafKey = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var leafRequest = new CertificateRequest("CN=localhost", leafKey, HashAlgorithmName.SHA256);
        leafRequest.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        leafRequest.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        leafRequest.CertificateExtensions.Add(names.Build());
        using var leaf = leafRequest.Create(intermediate.SubjectName, X509SignatureGenerator.CreateForECDsa(intermediateKey),
            now.AddDays(-1), now.AddDays(30), RandomNumberGenerator.GetBytes(16));

        File.WriteAllText(InDirectory("chain.pem"), leaf.ExportCertificatePem() + "\n" + intermediate.ExportCertificatePem() + "\n");
        File.WriteAllText(InDirectory("chain.key"), leafKey.ExportPkcs8PrivateKeyPem());
        await using var host = await ConfiguredDtlsHost.StartAsync(output,
            ConfiguredDtlsHost.Section(("CertificatePath", InDirectory("chain.pem")), ("KeyPath", InDirectory("chain.key"))));

        var options = new DtlsClientOptions { TrustedCertificateAuthorities = [root], ServerName = "localhost" };
        await using var factory = new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint).AsTask().WaitAsync(TimeSpan.FromSeconds(20));
        Assert.Equal(leaf.Thumbprint, connection.Features.Get<IDtlsSessionFeature>()!.PeerCertificate!.Thumbprint);
    }

    private static X509Certificate2 Authority(string subject, ECDsa key, X509Certificate2? issuer, ECDsa? issuerKey, DateTimeOffset now)
    {
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        if (issuer is null)
        {
            return request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
        }

        using var signed = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForECDsa(issuerKey!), now.AddDays(-1), now.AddYears(1),
            RandomNumberGenerator.GetBytes(16));
        return X509CertificateLoader.LoadCertificate(signed.RawData);
    }
}
