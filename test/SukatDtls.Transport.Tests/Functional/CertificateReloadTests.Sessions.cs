using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>A reload meets handshakes: one in progress keeps its certificate, and sessions made before resume after.</summary>
public sealed partial class CertificateReloadTests
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    private static DtlsConnectionFactory DevCaClient() =>
        new(Options.Create(new DtlsClientOptions { TrustedCertificateAuthorities = TestClientCertificates.DevCa() }), NullLoggerFactory.Instance);

    private async Task<ConfiguredDtlsHost> StartWithEcdsaFilesAsync(IDtlsSessionCache? sessions)
    {
        File.Copy(TestCertificates.ServerPem, CertificatePath);
        File.Copy(TestCertificates.ServerKey, KeyPath);
        return await ConfiguredDtlsHost.StartAsync(output, builder => builder.WebHost.UseDtls(o =>
        {
            (o.CertificatePath, o.KeyPath) = (CertificatePath, KeyPath);
            o.SessionCache = sessions; // null: the default in-memory cache
        }));
    }

    private async Task ReplaceWithRsaAsync(ConfiguredDtlsHost host)
    {
        File.Copy(TestCertificates.ServerRsaPem, CertificatePath, overwrite: true);
        File.Copy(TestCertificates.ServerRsaKey, KeyPath, overwrite: true);
        await host.LogEntryAsync(Reloaded);
    }

    private static async Task EchoAsync(ConnectionContext connection, string text)
    {
        await connection.Transport.Output.WriteAsync(System.Text.Encoding.UTF8.GetBytes(text));
        Assert.Equal(text, await OpenSslCli.ReadTextAsync(connection, text.Length, Step));
    }

    [Fact]
    public async Task A_handshake_in_progress_when_the_certificate_changes_finishes_with_the_certificate_it_started_with()
    {
        // The handshake is held, after its verified ClientHello, in a session lookup that the test releases only once
        // the new certificate is loaded: the server's certificate is chosen when the handshake starts, not when its
        // flight is written.
        var sessions = new HeldLookups();
        await using var host = await StartWithEcdsaFilesAsync(sessions);
        await using var client = DevCaClient();
        DtlsResumableSession offered;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            offered = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        // The cache keeps nothing, so the session offered is unknown: the lookup misses, after the reload, and the
        // handshake is a full one.
        var handshake = client.ConnectAsync(host.DtlsEndPoint, offered).AsTask();
        await sessions.LookupStarted.Task.WaitAsync(Step);
        await ReplaceWithRsaAsync(host);
        sessions.Release.SetResult();

        await using var connection = await handshake.WaitAsync(Step);
        var session = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.False(session.IsResumed);
        Assert.Equal(Ecdsa, session.PeerCertificate!.RawData);
        await EchoAsync(connection, "started before the reload");

        // Handshakes that start now get the new certificate.
        await using var after = await client.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal(Rsa, after.Features.Get<IDtlsSessionFeature>()!.PeerCertificate!.RawData);
        Assert.Equal(0, host.Listener.Statistics.HandshakesFailed);
    }

    [Fact]
    public async Task Sessions_made_before_the_certificate_changed_resume_after_it_for_our_client_and_for_openssl()
    {
        await using var host = await StartWithEcdsaFilesAsync(sessions: null);
        await using var client = DevCaClient();
        DtlsResumableSession session;
        await using (var first = await client.ConnectAsync(host.DtlsEndPoint))
        {
            await EchoAsync(first, "before");
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
        }

        string sessionFile = Path.Combine(_directory, "openssl-session.pem");
        string target = $"127.0.0.1:{host.DtlsEndPoint.Port}";
        Assert.Contains("New, TLSv1.2", await OpenSslCli.RunEchoingClientAsync(target, output, Step, "-sess_out", sessionFile));

        // From ECDSA to RSA: the sessions' ECDHE-ECDSA suites are not even among those the new certificate offers, and
        // an abbreviated handshake still needs neither certificate nor key.
        await ReplaceWithRsaAsync(host);

        await using (var resumed = await client.ConnectAsync(host.DtlsEndPoint, session))
        {
            var feature = resumed.Features.Get<IDtlsSessionFeature>()!;
            Assert.True(feature.IsResumed);
            Assert.Equal(Ecdsa, feature.PeerCertificate!.RawData); // the certificate the session was made with
            await EchoAsync(resumed, "after");
        }

        Assert.Contains("Reused, TLSv1.2", await OpenSslCli.RunEchoingClientAsync(target, output, Step, "-sess_in", sessionFile));

        await using var fresh = await client.ConnectAsync(host.DtlsEndPoint);
        Assert.False(fresh.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        Assert.Equal(Rsa, fresh.Features.Get<IDtlsSessionFeature>()!.PeerCertificate!.RawData);
    }

    /// <summary>A session cache that keeps nothing and holds its first lookup until the test releases it.</summary>
    private sealed class HeldLookups : IDtlsSessionCache
    {
        public TaskCompletionSource LookupStarted { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public ValueTask SetAsync(ReadOnlyMemory<byte> sessionId, DtlsSessionState session, CancellationToken cancellationToken) => default;

        public async ValueTask<DtlsSessionState?> GetAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
        {
            LookupStarted.TrySetResult();
            await Release.Task.WaitAsync(cancellationToken);
            return null;
        }

        public ValueTask RemoveAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken) => default;
    }
}
