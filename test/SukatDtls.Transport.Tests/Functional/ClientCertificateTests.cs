using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Client certificate authentication: our client against the server transport, on loopback.</summary>
public sealed class ClientCertificateTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    private readonly ConnectionObserver _observer = new();

    private Task<DtlsTestHost> StartAsync(ClientCertificateMode mode, Action<DtlsTransportOptions>? configure = null) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.ClientCertificateMode = mode;
            o.ClientCertificateAuthorities = TestClientCertificates.DevCa();
            configure?.Invoke(o);
        }, configureServices: s => s.AddSingleton(_observer));

    private static DtlsConnectionFactory Factory(X509Certificate2? clientCertificate) =>
        new(Options.Create(new DtlsClientOptions
        {
            TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
            ClientCertificate = clientCertificate,
        }), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);

    private static async Task<string> EchoOnceAsync(ConnectionContext connection, string text)
    {
        await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        var result = await connection.Transport.Input.ReadAsync().AsTask().WaitAsync(Step);
        var echoed = System.Text.Encoding.UTF8.GetString(System.Buffers.BuffersExtensions.ToArray(result.Buffer));
        connection.Transport.Input.AdvanceTo(result.Buffer.End);
        return echoed;
    }

    private static void AssertNoErrors(DtlsTestHost host) =>
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error);

    [Fact]
    public async Task A_certificate_signed_by_the_configured_CA_is_accepted_and_the_handler_sees_it()
    {
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate);
        using var certificate = TestClientCertificates.DevClient();
        await using var factory = Factory(certificate);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("mutual", await EchoOnceAsync(connection, "mutual"));

        var observed = await _observer.NextAsync(Step);
        var tls = observed.Connection.Features.Get<ITlsConnectionFeature>();
        Assert.NotNull(tls);
        Assert.Equal("CN=SukatDtls Dev Client", tls.ClientCertificate!.Subject);
        Assert.Equal(certificate.Thumbprint, tls.ClientCertificate.Thumbprint);
        Assert.Same(tls.ClientCertificate, await tls.GetClientCertificateAsync(CancellationToken.None));
        Assert.Equal(certificate.Thumbprint, observed.Connection.Features.Get<IDtlsSessionFeature>()!.PeerCertificate!.Thumbprint);

        // On the client side the feature names the certificate we sent.
        Assert.Equal(certificate.Thumbprint, connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Thumbprint);

        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 20 && e.Message.Contains("CN=SukatDtls Dev Client", StringComparison.Ordinal));
        AssertNoErrors(host);
    }

    public static TheoryData<string, string, string> Rejected => new()
    {
        // kind, the alert the client gets, what the server's log says
        { "self-signed", "unknown_ca", "UntrustedRoot" },
        { "expired", "certificate_expired", "NotTimeValid" },
        { "serverAuth only", "unsupported_certificate", "NotValidForUsage" },
        { "bad signature", "bad_certificate", "NotSignatureValid" },
    };

    [Theory]
    [MemberData(nameof(Rejected))]
    public async Task A_certificate_the_CA_does_not_vouch_for_as_a_client_is_rejected_and_the_reason_logged(string kind, string alert, string logged)
    {
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate);
        using var certificate = kind switch
        {
            "self-signed" => TestClientCertificates.SelfSigned("Self Signed Client"),
            "expired" => TestClientCertificates.SignedByDevCa("Expired Client", TestClientCertificates.ClientAuthentication, expired: true),
            "bad signature" => TestClientCertificates.WithBrokenSignature(TestClientCertificates.SignedByDevCa("Forged Client", TestClientCertificates.ClientAuthentication)),
            _ => TestClientCertificates.SignedByDevCa("Server Purpose Only", TestClientCertificates.ServerAuthentication),
        };

        await using var factory = Factory(certificate);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine(ex.Message);
        Assert.Contains(alert, ex.Message);
        Assert.Contains($"rejected our client certificate '{certificate.Subject}'", ex.Message);

        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1);
        var rejection = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 23);
        output.WriteLine(rejection.Message);
        Assert.Equal(LogLevel.Information, rejection.Level);
        Assert.Contains(certificate.Subject, rejection.Message);
        Assert.Contains(alert, rejection.Message);
        Assert.Contains(logged, rejection.Message);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 5 && e.Message.Contains(alert, StringComparison.Ordinal));
        Assert.Equal(0, host.Listener.Statistics.HandshakesCompleted);
        AssertNoErrors(host);

        // The server goes on with a good certificate.
        using var good = TestClientCertificates.DevClient();
        await using var goodFactory = Factory(good);
        await using var connection = await goodFactory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("still serving", await EchoOnceAsync(connection, "still serving"));
    }

    [Fact]
    public async Task Require_refuses_a_client_without_a_certificate_with_handshake_failure()
    {
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate);
        await using var factory = Factory(null);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine(ex.Message);
        Assert.Contains("handshake_failure", ex.Message);
        Assert.Contains("requires a client certificate", ex.Message);

        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 22 && e.Level == LogLevel.Information);
        AssertNoErrors(host);
    }

    [Fact]
    public async Task Allow_accepts_a_client_without_a_certificate_and_the_handler_sees_none()
    {
        await using var host = await StartAsync(ClientCertificateMode.AllowCertificate);
        await using var factory = Factory(null);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("anonymous", await EchoOnceAsync(connection, "anonymous"));

        var observed = await _observer.NextAsync(Step);
        Assert.Null(observed.Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate);
        Assert.Null(await observed.Connection.Features.Get<ITlsConnectionFeature>()!.GetClientCertificateAsync(CancellationToken.None));
        Assert.Null(observed.Connection.Features.Get<IDtlsSessionFeature>()!.PeerCertificate);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 21);
    }

    [Fact]
    public async Task Allow_still_validates_a_certificate_that_is_sent()
    {
        await using var host = await StartAsync(ClientCertificateMode.AllowCertificate);
        using (var good = TestClientCertificates.DevClient())
        {
            await using var factory = Factory(good);
            await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
            Assert.Equal("allowed", await EchoOnceAsync(connection, "allowed"));
            Assert.Equal(good.Thumbprint, (await _observer.NextAsync(Step)).Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Thumbprint);
        }

        using var selfSigned = TestClientCertificates.SelfSigned("Unknown Client");
        await using var badFactory = Factory(selfSigned);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => badFactory.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("unknown_ca", ex.Message);
    }

    [Fact]
    public async Task Without_client_authentication_no_certificate_is_asked_for_or_sent()
    {
        await using var host = await StartAsync(ClientCertificateMode.NoCertificate);
        using var certificate = TestClientCertificates.DevClient();
        await using var factory = Factory(certificate);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("no client auth", await EchoOnceAsync(connection, "no client auth"));
        Assert.Null((await _observer.NextAsync(Step)).Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate);
        Assert.Null(connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate);
    }

    [Fact]
    public async Task ClientCertificateValidation_decides_with_the_chain_errors_in_hand()
    {
        var seen = new List<(string Subject, SslPolicyErrors Errors, int ChainLength)>();
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate, o => o.ClientCertificateValidation = (certificate, chain, errors) =>
        {
            lock (seen)
            {
                seen.Add((certificate.Subject, errors, chain?.ChainElements.Count ?? 0));
            }

            // Accept one known self-signed device; refuse one CA-signed client.
            return certificate.Subject == "CN=Pinned Device" || (errors == SslPolicyErrors.None && certificate.Subject != "CN=SukatDtls Dev Client");
        });

        using (var pinned = TestClientCertificates.SelfSigned("Pinned Device"))
        {
            await using var factory = Factory(pinned);
            await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
            Assert.Equal("pinned", await EchoOnceAsync(connection, "pinned"));
        }

        using var refused = TestClientCertificates.DevClient();
        await using var refusedFactory = Factory(refused);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => refusedFactory.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("certificate_unknown", ex.Message);

        Assert.Equal(
            [("CN=Pinned Device", SslPolicyErrors.RemoteCertificateChainErrors, 1), ("CN=SukatDtls Dev Client", SslPolicyErrors.None, 2)],
            seen);
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 23));
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 23 && e.Message.Contains("ClientCertificateValidation rejected it", StringComparison.Ordinal));
    }

    [Fact]
    public async Task A_throwing_ClientCertificateValidation_fails_closed_and_is_logged_as_an_error()
    {
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate,
            o => o.ClientCertificateValidation = (_, _, _) => throw new InvalidOperationException("validator bug"));
        using var certificate = TestClientCertificates.DevClient();
        await using var factory = Factory(certificate);
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("internal_error", ex.Message);
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 25));
        var logged = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 25);
        Assert.Equal(LogLevel.Error, logged.Level);
        Assert.IsType<InvalidOperationException>(logged.Exception);
    }

    [Fact]
    public async Task An_RSA_server_asks_for_and_accepts_an_ECDSA_client_certificate()
    {
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate, o => o.ServerCertificate = TestCertificates.RsaServer());
        using var certificate = TestClientCertificates.DevClient();
        await using var factory = Factory(certificate);
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.StartsWith("TLS_ECDHE_RSA_", connection.Features.Get<IDtlsSessionFeature>()!.CipherSuiteName);
        Assert.Equal("rsa server", await EchoOnceAsync(connection, "rsa server"));
    }

    [Fact]
    public async Task A_resumed_session_keeps_the_client_certificate()
    {
        await using var host = await StartAsync(ClientCertificateMode.RequireCertificate);
        using var certificate = TestClientCertificates.DevClient();
        await using var factory = Factory(certificate);
        DtlsResumableSession session;
        await using (var first = await factory.ConnectAsync(host.DtlsEndPoint))
        {
            Assert.Equal("first", await EchoOnceAsync(first, "first"));
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
            await _observer.NextAsync(Step);
        }

        await using var second = await factory.ConnectAsync(host.DtlsEndPoint, session);
        Assert.Equal("second", await EchoOnceAsync(second, "second"));
        var observed = await _observer.NextAsync(Step);
        Assert.True(observed.Connection.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Equal(certificate.Thumbprint, observed.Connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate!.Thumbprint);
    }
}
