using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Certificate chains of three RSA-4096 certificates in both directions (server and client authentication), through a
/// path that drops every datagram above 576 bytes: the handshake fragments correctly, and no datagram exceeds the limit.
/// </summary>
public sealed class LargeHandshakeTests(ITestOutputHelper output)
{
    private const int Limit = 576;
    private static readonly Lazy<RsaChains> s_chains = new(RsaChains.Create);
    private readonly ConnectionObserver _observer = new();

    [Fact]
    public async Task Three_certificate_RSA_4096_chains_both_ways_fit_576_byte_datagrams()
    {
        var chains = s_chains.Value;
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.ServerCertificate = chains.ServerLeaf;
            o.ServerCertificateChain = [chains.Intermediate2, chains.Intermediate1];
            o.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            o.ClientCertificateAuthorities = [chains.Root];
            o.MaxDatagramSize = Limit;
            o.HandshakeTimeout = TimeSpan.FromSeconds(30);
        }, configureServices: s => s.AddSingleton(_observer));

        await using var proxy = new ImpairmentProxy(host.DtlsEndPoint, seed: 576);
        proxy.Impair(new Impairment { MaxDatagramSize = Limit });

        var options = new DtlsClientOptions
        {
            TrustedCertificateAuthorities = [chains.Root],
            ServerName = "localhost",
            ClientCertificate = chains.ClientLeaf,
            ClientCertificateChain = [chains.Intermediate2, chains.Intermediate1],
            MaxDatagramSize = Limit,
            HandshakeTimeout = TimeSpan.FromSeconds(30),
        };
        await using var factory = new DtlsConnectionFactory(Options.Create(options), NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(proxy.EndPoint);

        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        await datagrams.SendAsync(new byte[datagrams.MaxRecordSize]);
        var buffer = new byte[datagrams.MaxReceiveRecordSize];
        Assert.Equal(datagrams.MaxRecordSize, await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(TimeSpan.FromSeconds(10)));

        output.WriteLine(proxy.ToString());
        Assert.Equal(0, proxy.ClientToServer.DroppedOversize);
        Assert.Equal(0, proxy.ServerToClient.DroppedOversize);
        Assert.InRange(proxy.ClientToServer.LargestDatagram, 1, Limit);
        Assert.InRange(proxy.ServerToClient.LargestDatagram, 1, Limit);

        Assert.Equal(chains.ServerLeaf.Thumbprint, connection.Features.Get<IDtlsSessionFeature>()!.PeerCertificate!.Thumbprint);
        var server = await _observer.NextAsync();
        Assert.Equal(chains.ClientLeaf.Thumbprint, server.Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Thumbprint);
    }

    /// <summary>root → intermediate 1 → intermediate 2 → server and client leaves, all RSA-4096 (made once per run).</summary>
    private sealed record RsaChains(X509Certificate2 Root, X509Certificate2 Intermediate1, X509Certificate2 Intermediate2,
        X509Certificate2 ServerLeaf, X509Certificate2 ClientLeaf)
    {
        public static RsaChains Create()
        {
            var now = DateTimeOffset.UtcNow;
            using var rootKey = RSA.Create(4096);
            var root = Authority("CN=Large Root", rootKey, issuer: null, issuerKey: null, now);
            using var key1 = RSA.Create(4096);
            var intermediate1 = Authority("CN=Large Intermediate 1", key1, root, rootKey, now);
            using var key2 = RSA.Create(4096);
            var intermediate2 = Authority("CN=Large Intermediate 2", key2, intermediate1, key1, now);
            var server = Leaf("CN=localhost", "1.3.6.1.5.5.7.3.1", intermediate2, key2, now, withNames: true);
            var client = Leaf("CN=Large Client", "1.3.6.1.5.5.7.3.2", intermediate2, key2, now, withNames: false);
            return new RsaChains(root, intermediate1, intermediate2, server, client);
        }

        private static X509Certificate2 Authority(string subject, RSA key, X509Certificate2? issuer, RSA? issuerKey, DateTimeOffset now)
        {
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
            if (issuer is null)
            {
                return request.CreateSelfSigned(now.AddDays(-1), now.AddYears(1));
            }

            using var signed = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForRSA(issuerKey!, RSASignaturePadding.Pkcs1),
                now.AddDays(-1), now.AddYears(1), RandomNumberGenerator.GetBytes(16));
            return X509CertificateLoader.LoadCertificate(signed.RawData);
        }

        private static X509Certificate2 Leaf(string subject, string purpose, X509Certificate2 issuer, RSA issuerKey, DateTimeOffset now, bool withNames)
        {
            using var key = RSA.Create(4096);
            var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment, true));
            request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new System.Security.Cryptography.Oid(purpose)], false));
            if (withNames)
            {
                var names = new SubjectAlternativeNameBuilder();
                names.AddDnsName("localhost");
                names.AddIpAddress(IPAddress.Loopback);
                request.CertificateExtensions.Add(names.Build());
            }

            using var signed = request.Create(issuer.SubjectName, X509SignatureGenerator.CreateForRSA(issuerKey, RSASignaturePadding.Pkcs1),
                now.AddDays(-1), now.AddYears(1), RandomNumberGenerator.GetBytes(16));
            using var withKey = signed.CopyWithPrivateKey(key);

            // Through PKCS#12 so that the key is exportable, as CertificateCredentials needs it.
            return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null, X509KeyStorageFlags.Exportable);
        }
    }
}
