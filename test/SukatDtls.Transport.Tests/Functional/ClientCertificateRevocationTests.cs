using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// <c>ClientCertificateRevocationMode</c>: a CA made for the test issues client certificates whose CRL distribution
/// point is a loopback HTTP server; the CRL it serves revokes one of them.
/// </summary>
public sealed class ClientCertificateRevocationTests(ITestOutputHelper output) : IAsyncLifetime, IDisposable
{
    private const int Rejected = 23;

    private readonly TestCertificateAuthority _ca = new();
    private CrlServer _crls = null!;
    private X509Certificate2 _good = null!;
    private X509Certificate2 _revoked = null!;

    public async Task InitializeAsync()
    {
        _crls = await CrlServer.StartAsync();
        _good = _ca.IssueClient("Good Client", _crls.CrlUri);
        _revoked = _ca.IssueClient("Revoked Client", _crls.CrlUri);
        _ca.Revoke(_revoked);
        _crls.Crl = _ca.BuildCrl();
    }

    public async Task DisposeAsync()
    {
        await _crls.DisposeAsync();
        ForgetCachedCrl();
    }

    public void Dispose()
    {
        _good.Dispose();
        _revoked.Dispose();
        _ca.Dispose();
    }

    private Task<DtlsTestHost> StartAsync(X509RevocationMode mode, TimeSpan? handshakeTimeout = null) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.ClientCertificateMode = ClientCertificateMode.RequireCertificate;
            o.ClientCertificateAuthorities = _ca.Trust();
            o.ClientCertificateRevocationMode = mode;
            o.HandshakeTimeout = handshakeTimeout ?? o.HandshakeTimeout;
        }, configureServices: s => s.AddSingleton(new ConnectionObserver()));

    private static DtlsConnectionFactory Factory(X509Certificate2 clientCertificate) =>
        new(Options.Create(new DtlsClientOptions
        {
            TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
            ClientCertificate = clientCertificate,
        }), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

    private static async Task EchoAsync(ConnectionContext connection)
    {
        await connection.Transport.Output.WriteAsync("checked"u8.ToArray());
        Assert.Equal("checked", await OpenSslCli.ReadTextAsync(connection, "checked".Length, TimeSpan.FromSeconds(10)));
    }

    [Fact]
    public async Task Online_checking_refuses_a_revoked_certificate_with_certificate_revoked_and_accepts_the_others()
    {
        await using var host = await StartAsync(X509RevocationMode.Online);

        await using (var factory = Factory(_revoked))
        {
            var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
            output.WriteLine(ex.Message);
            Assert.Contains("certificate_revoked", ex.Message);
        }

        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1);
        var rejection = Assert.Single(host.Logs.Entries, e => e.EventId.Id == Rejected);
        Assert.Contains("CN=Revoked Client", rejection.Message);
        Assert.Contains("Revoked", rejection.Message.Replace("CN=Revoked Client", "", StringComparison.Ordinal));
        Assert.True(_crls.Fetches >= 1, "the CRL was never fetched");

        // The same CA's other certificate is not on the list.
        await using (var factory = Factory(_good))
        {
            await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
            await EchoAsync(connection);
        }

        Assert.Equal(1, host.Listener.Statistics.HandshakesCompleted);
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error);
    }

    [Fact]
    public async Task Without_checking_the_default_a_revoked_certificate_is_accepted_and_no_CRL_fetched()
    {
        await using var host = await StartAsync(X509RevocationMode.NoCheck);
        await using var factory = Factory(_revoked);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        await EchoAsync(connection);
        Assert.Equal(0, _crls.Fetches);
    }

    [Fact]
    public async Task A_CRL_distribution_point_that_hangs_holds_the_handshake_no_longer_than_its_timeout()
    {
        // The fetch runs inside the handshake (Online), which must end by HandshakeTimeout whatever the network does:
        // the revocation status is then unknown, and the certificate is refused as certificate_unknown.
        _crls.Stall = true;
        var handshakeTimeout = TimeSpan.FromSeconds(2);
        await using var host = await StartAsync(X509RevocationMode.Online, handshakeTimeout);
        await using var factory = Factory(_good);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        var took = clock.Elapsed;
        output.WriteLine($"{took.TotalMilliseconds:F0} ms: {ex.Message}");
        Assert.Contains("certificate_unknown", ex.Message);
        Assert.True(took < handshakeTimeout + TimeSpan.FromSeconds(3), $"the handshake took {took}, its timeout is {handshakeTimeout}");

        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1);
        var rejection = Assert.Single(host.Logs.Entries, e => e.EventId.Id == Rejected);
        Assert.Contains("RevocationStatusUnknown", rejection.Message);
        Assert.True(_crls.Fetches >= 1, "the CRL was never asked for");
    }

    /// <summary>
    /// .NET on Linux keeps fetched CRLs under ~/.dotnet/corefx/cryptography/crls; this test's CA is gone, so its CRL
    /// would only lie there. Removes the files that hold exactly the CRL served.
    /// </summary>
    private void ForgetCachedCrl()
    {
        string cache = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".dotnet", "corefx", "cryptography", "crls");
        if (!Directory.Exists(cache))
        {
            return;
        }

        foreach (string file in Directory.EnumerateFiles(cache, "*.crl"))
        {
            try
            {
                // Kept as PEM ("X509 CRL").
                string text = File.ReadAllText(file);
                if (System.Security.Cryptography.PemEncoding.TryFind(text, out var pem)
                    && Convert.FromBase64String(text[pem.Base64Data]).AsSpan().SequenceEqual(_crls.Crl))
                {
                    File.Delete(file);
                }
            }
            catch (Exception ex) when (ex is IOException or FormatException)
            {
                // Another test's .NET may be writing its own CRL there; this one is small and named for a CA that is gone.
            }
        }
    }
}
