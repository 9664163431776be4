using System.Diagnostics;
using System.Security.Authentication;
using System.Security.Cryptography;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// Raw public keys (RFC 7250): our client against the server transport on loopback, both sides presenting keys
/// instead of certificates, as CoAP devices and LwM2M servers do. Real clients (GnuTLS, libcoap) are in the interop tests.
/// </summary>
public sealed class RawPublicKeyTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    private readonly ConnectionObserver _observer = new();
    private readonly ECDsa _clientKey = TestRawPublicKeys.ClientKey();
    private readonly ECDsa _serverCertificateKey = TestRawPublicKeys.ServerKey();

    public void Dispose()
    {
        _clientKey.Dispose();
        _serverCertificateKey.Dispose();
    }

    private Task<DtlsTestHost> StartAsync(Action<DtlsTransportOptions> configure) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configure, configureServices: s => s.AddSingleton(_observer));

    private static DtlsConnectionFactory Factory(Action<DtlsClientOptions> configure)
    {
        var options = new DtlsClientOptions();
        configure(options);
        return new DtlsConnectionFactory(Options.Create(options), Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
    }

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
    public async Task A_device_key_in_the_store_connects_both_sides_see_the_other_sides_key_and_resumption_keeps_it()
    {
        var store = new TestRawPublicKeyStore(_clientKey);
        await using var host = await StartAsync(o => o.ClientRawPublicKeyStore = store);
        await using var factory = Factory(o =>
        {
            o.ClientRawPublicKey = _clientKey;
            o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey);
        });

        DtlsResumableSession session;
        await using (var connection = await factory.ConnectAsync(host.DtlsEndPoint))
        {
            Assert.Equal("by key", await EchoOnceAsync(connection, "by key"));

            // The client asked for the server's key first: the certificate's key came alone, without the certificate.
            var client = connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.Equal(DtlsPeerAuthentication.RawPublicKey, client.PeerAuthentication);
            Assert.Equal(TestRawPublicKeys.SubjectPublicKeyInfo(_serverCertificateKey), client.PeerRawPublicKey.ToArray());
            Assert.Null(client.PeerCertificate);
            Assert.Null(connection.Features.Get<ITlsConnectionFeature>()!.ClientCertificate); // a key is no certificate
            Assert.Equal("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", client.CipherSuiteName);
            session = client.ResumableSession!;

            var server = (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.Equal(DtlsPeerAuthentication.RawPublicKey, server.PeerAuthentication);
            Assert.Equal(TestRawPublicKeys.SubjectPublicKeyInfo(_clientKey), server.PeerRawPublicKey.ToArray());
            Assert.Null(server.PeerCertificate);
        }

        Assert.Equal(1, store.Lookups);
        var accepted = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 26);
        Assert.Equal(DtlsSecurityLog.Category, accepted.Category);
        Assert.Contains(TestRawPublicKeys.Sha256Hex(_clientKey), accepted.Message, StringComparison.Ordinal);

        // A resumed session reports the key accepted when it was made, without asking the store again.
        await using var resumed = await factory.ConnectAsync(host.DtlsEndPoint, session);
        Assert.Equal("resumed", await EchoOnceAsync(resumed, "resumed"));
        Assert.True(resumed.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        var resumedServer = (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.True(resumedServer.IsResumed);
        Assert.Equal(DtlsPeerAuthentication.RawPublicKey, resumedServer.PeerAuthentication);
        Assert.Equal(TestRawPublicKeys.SubjectPublicKeyInfo(_clientKey), resumedServer.PeerRawPublicKey.ToArray());
        Assert.Equal(1, store.Lookups);
        AssertNoErrors(host);
    }

    [Fact]
    public async Task A_device_key_the_store_does_not_know_is_refused_with_access_denied_and_logged_with_its_fingerprint()
    {
        var store = new TestRawPublicKeyStore(_clientKey);
        await using var host = await StartAsync(o => o.ClientRawPublicKeyStore = store);
        using var stranger = TestRawPublicKeys.NewKey();
        await using var factory = Factory(o =>
        {
            o.ClientRawPublicKey = stranger;
            o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey);
        });

        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine(ex.Message);
        Assert.Contains("access_denied", ex.Message);
        Assert.Contains($"the server does not accept our raw public key (SHA-256 {TestRawPublicKeys.Sha256Hex(stranger)})", ex.Message);

        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 5));
        var refusal = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 27);
        Assert.Equal(LogLevel.Information, refusal.Level);
        Assert.Equal(DtlsSecurityLog.Category, refusal.Category);
        Assert.Contains(TestRawPublicKeys.Sha256Hex(stranger), refusal.Message, StringComparison.Ordinal);
        Assert.Contains("access_denied", refusal.Message, StringComparison.Ordinal);
        Assert.Empty(_observer.All);
        AssertNoErrors(host);
    }

    [Fact]
    public async Task Key_certificate_anonymous_and_psk_clients_share_one_server_and_each_session_says_how_its_client_authenticated()
    {
        await using var host = await StartAsync(o =>
        {
            o.ClientRawPublicKeyStore = new TestRawPublicKeyStore(_clientKey);
            o.ClientCertificateMode = ClientCertificateMode.AllowCertificate;
            o.ClientCertificateAuthorities = TestClientCertificates.DevCa();
            o.PskKeyStore = new TestPskKeyStore();
        });

        using var certificate = TestClientCertificates.DevClient();
        var clients = new (string Name, Action<DtlsClientOptions> Configure, DtlsPeerAuthentication Expected, DtlsPeerAuthentication ServerSeen)[]
        {
            ("key", o => { o.ClientRawPublicKey = _clientKey; o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey); },
                DtlsPeerAuthentication.RawPublicKey, DtlsPeerAuthentication.RawPublicKey),
            ("certificate", o => { o.ClientCertificate = certificate; o.TrustedCertificateAuthorities = TestClientCertificates.DevCa(); },
                DtlsPeerAuthentication.Certificate, DtlsPeerAuthentication.Certificate),
            ("anonymous", o => o.TrustedCertificateAuthorities = TestClientCertificates.DevCa(),
                DtlsPeerAuthentication.Certificate, DtlsPeerAuthentication.None),
            ("psk", o => { o.PskIdentity = TestPskKeyStore.Identity; o.PskKey = TestPskKeyStore.Key; },
                DtlsPeerAuthentication.PreSharedKey, DtlsPeerAuthentication.PreSharedKey),
        };

        foreach (var (name, configure, expected, serverSeen) in clients)
        {
            await using var factory = Factory(configure);
            await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
            Assert.Equal(name, await EchoOnceAsync(connection, name));
            Assert.Equal(expected, connection.Features.Get<IDtlsSessionFeature>()!.PeerAuthentication);

            var server = (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!;
            output.WriteLine($"{name}: {server.CipherSuiteName}, server sees {server.PeerAuthentication}");
            Assert.Equal(serverSeen, server.PeerAuthentication);
            Assert.Equal(serverSeen == DtlsPeerAuthentication.RawPublicKey, !server.PeerRawPublicKey.IsEmpty);
            Assert.Equal(serverSeen == DtlsPeerAuthentication.Certificate, server.PeerCertificate is not null);
            Assert.Equal(serverSeen == DtlsPeerAuthentication.PreSharedKey, server.PskIdentity is not null);
        }

        AssertNoErrors(host);
    }

    [Fact]
    public async Task A_configured_server_key_is_presented_to_clients_that_ask_for_a_key_and_the_certificate_to_the_others()
    {
        using var serverKey = TestRawPublicKeys.NewKey();
        await using var host = await StartAsync(o => o.ServerRawPublicKey = serverKey);

        await using (var pinning = Factory(o => o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(serverKey)))
        {
            await using var connection = await pinning.ConnectAsync(host.DtlsEndPoint);
            Assert.Equal("pinned", await EchoOnceAsync(connection, "pinned"));
            var session = connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.Equal(TestRawPublicKeys.SubjectPublicKeyInfo(serverKey), session.PeerRawPublicKey.ToArray());

            // The client is anonymous here: no key of its own.
            Assert.Equal(DtlsPeerAuthentication.None, (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!.PeerAuthentication);
        }

        await using (var x509 = Factory(o => o.TrustedCertificateAuthorities = TestClientCertificates.DevCa()))
        {
            await using var connection = await x509.ConnectAsync(host.DtlsEndPoint);
            var session = connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.Equal(DtlsPeerAuthentication.Certificate, session.PeerAuthentication);
            Assert.Equal("CN=localhost", session.PeerCertificate!.Subject);
            Assert.True(session.PeerRawPublicKey.IsEmpty);
        }

        // A pin of another key is refused by the client, naming both fingerprints.
        using var other = TestRawPublicKeys.NewKey();
        await using var wrongPin = Factory(o => o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(other));
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => wrongPin.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine(ex.Message);
        Assert.Contains($"the server's public key (SHA-256 {TestRawPublicKeys.Sha256Hex(serverKey)}) is not the pinned key ({TestRawPublicKeys.Sha256Hex(other)})", ex.Message);
    }

    // RFC 7250 §4.2: a server that asks for certificates names the client's type, and fails when there is none in common.
    // Without a key store, a client with only a raw public key meets X.509 only: refused at once, saying why, instead of
    // running into a CertificateRequest it cannot answer. A server that asks for no certificate lets it in anonymously.
    [Fact]
    public async Task Without_a_key_store_a_key_only_client_is_refused_by_a_server_that_wants_certificates_and_anonymous_elsewhere()
    {
        await using var factory = Factory(o =>
        {
            o.ClientRawPublicKey = _clientKey;
            o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey);
        });

        await using (var wantsCertificates = await StartAsync(o => o.ClientCertificateMode = ClientCertificateMode.AllowCertificate))
        {
            var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(wantsCertificates.DtlsEndPoint).AsTask());
            output.WriteLine(ex.Message);
            Assert.Contains("unsupported_certificate(43): the server takes no raw public keys from clients", ex.Message);
        }

        await using var noCertificates = await StartAsync(_ => { });
        await using var connection = await factory.ConnectAsync(noCertificates.DtlsEndPoint);
        Assert.Equal(DtlsPeerAuthentication.None, (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!.PeerAuthentication);
    }

    [Fact]
    public async Task A_failing_key_store_fails_the_handshake_with_internal_error_and_the_server_goes_on()
    {
        var store = new TestRawPublicKeyStore(_clientKey) { Failure = new InvalidOperationException("the device registry is down") };
        await using var host = await StartAsync(o => o.ClientRawPublicKeyStore = store);
        await using var factory = Factory(o =>
        {
            o.ClientRawPublicKey = _clientKey;
            o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey);
        });

        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("internal_error", ex.Message);
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 28));
        var failure = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 28);
        Assert.Equal(LogLevel.Error, failure.Level);
        Assert.IsType<InvalidOperationException>(failure.Exception);

        store.Failure = null;
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("registry is back", await EchoOnceAsync(connection, "registry is back"));
    }

    [Fact]
    public async Task A_key_store_that_does_not_answer_is_abandoned_at_the_handshake_timeout()
    {
        var store = new TestRawPublicKeyStore(_clientKey) { Hang = true };
        await using var host = await StartAsync(o =>
        {
            o.ClientRawPublicKeyStore = store;
            o.HandshakeTimeout = TimeSpan.FromSeconds(1);
        });
        await using var factory = Factory(o =>
        {
            o.ClientRawPublicKey = _clientKey;
            o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey);
        });

        var stopwatch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine($"{stopwatch.ElapsedMilliseconds} ms: {ex.Message}");
        Assert.Contains("internal_error", ex.Message);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
        await store.LookupCancelled.Task.WaitAsync(Step);
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 29 && e.Level == LogLevel.Warning));
    }

    [Fact]
    public async Task Keys_from_configuration_as_a_hash_or_a_PEM_public_key_admit_those_devices_only()
    {
        using var second = TestRawPublicKeys.NewKey();
        using var stranger = TestRawPublicKeys.NewKey();
        await using var host = await StartAsync(o =>
        {
            // Colons and upper case, as fingerprints are often written; and a PEM block.
            o.ClientRawPublicKeys.Add(string.Join(':', Convert.ToHexString(TestRawPublicKeys.Sha256(_clientKey)).Chunk(2).Select(c => new string(c))));
            o.ClientRawPublicKeys.Add(second.ExportSubjectPublicKeyInfoPem());
        });

        foreach (var (key, admitted) in new[] { (_clientKey, true), (second, true), (stranger, false) })
        {
            await using var factory = Factory(o =>
            {
                o.ClientRawPublicKey = key;
                o.PinnedServerPublicKeySha256 = TestRawPublicKeys.Sha256(_serverCertificateKey);
            });
            if (admitted)
            {
                await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
                var server = (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!;
                Assert.Equal(TestRawPublicKeys.SubjectPublicKeyInfo(key), server.PeerRawPublicKey.ToArray());
            }
            else
            {
                var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
                Assert.Contains("access_denied", ex.Message);
            }
        }
    }
}
