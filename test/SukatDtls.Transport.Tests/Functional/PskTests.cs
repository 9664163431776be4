using System.Diagnostics;
using System.Net.Security;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Microsoft.AspNetCore.Connections.Features;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>Pre-shared keys: our client and a plain BouncyCastle client against the server transport, on loopback.</summary>
public sealed class PskTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(10);

    private readonly ConnectionObserver _observer = new();
    private readonly TestPskKeyStore _store = new();

    private Task<DtlsTestHost> StartAsync(Action<DtlsTransportOptions>? configure = null) =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o =>
        {
            o.PskKeyStore = _store;
            configure?.Invoke(o);
        }, configureServices: s => s.AddSingleton(_observer));

    private static DtlsConnectionFactory Factory(string identity = TestPskKeyStore.Identity, byte[]? key = null, Action<DtlsClientOptions>? configure = null)
    {
        var options = new DtlsClientOptions { PskIdentity = identity, PskKey = key ?? TestPskKeyStore.Key };
        configure?.Invoke(options);
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

    private static void AssertNoErrorsBut(DtlsTestHost host, params int[] allowedEventIds) =>
        Assert.DoesNotContain(host.Logs.Entries, e => e.Level >= LogLevel.Error && !allowedEventIds.Contains(e.EventId.Id));

    [Fact]
    public async Task Our_client_connects_with_a_pre_shared_key_and_the_handler_sees_the_identity()
    {
        await using var host = await StartAsync();
        await using var factory = Factory();
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("over a pre-shared key", await EchoOnceAsync(connection, "over a pre-shared key"));

        // The client offers the PSK suites first, ECDHE-PSK with ChaCha20 leading; the server follows its order.
        var clientSession = connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal("TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", clientSession.CipherSuiteName);
        Assert.Equal(TestPskKeyStore.Identity, clientSession.PskIdentity);
        Assert.Null(clientSession.PeerCertificate);

        var observed = await _observer.NextAsync(Step);
        var serverSession = observed.Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(TestPskKeyStore.Identity, serverSession.PskIdentity);
        Assert.Equal(CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, serverSession.CipherSuite);
        Assert.Equal("TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", serverSession.CipherSuiteName);
        Assert.Null(serverSession.PeerCertificate);
        Assert.Equal(TlsCipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
            observed.Connection.Features.Get<Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature>()!.NegotiatedCipherSuite);
        Assert.Null(observed.Connection.Features.Get<Microsoft.AspNetCore.Http.Features.ITlsConnectionFeature>()!.ClientCertificate);
        Assert.Equal(1, _store.Lookups);

        // BouncyCastle zeroes the key it was handed: the store's own array must have been left alone.
        Assert.Equal(Convert.FromHexString("000102030405060708090a0b0c0d0e0f"), TestPskKeyStore.Key);
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 30 && e.Message.Contains("'device-1'", StringComparison.Ordinal));
    }

    public static TheoryData<int, string, bool> Suites => new()
    {
        { CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, "TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256", true },
        { CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", true },
        { CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256, "TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256", false }, // MAC-then-encrypt
        { CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256, "TLS_PSK_WITH_AES_128_GCM_SHA256", true },
        { CipherSuite.TLS_PSK_WITH_AES_128_CCM, "TLS_PSK_WITH_AES_128_CCM", true },
        { CipherSuite.TLS_PSK_WITH_AES_128_CCM_8, "TLS_PSK_WITH_AES_128_CCM_8", true },
    };

    /// <summary>
    /// Lengths of forged epoch-1 records per suite that BouncyCastle 2.7 would answer by failing the whole connection
    /// (decode_error below the minimum, decryption_failed for CBC lengths that are not whole blocks), measured against
    /// it, plus lengths it only discards as failing authentication. The record filter must stop the first kind.
    /// </summary>
    private static int[] ForgedLengths(int suite) => suite switch
    {
        CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256 => [0, 16, 48, 49, 63, 65, 79, 64, 80, 96],
        CipherSuite.TLS_PSK_WITH_AES_128_CCM_8 => [0, 8, 15, 16, 17],
        CipherSuite.TLS_PSK_WITH_AES_128_CCM or CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256 => [0, 8, 23, 24, 25],
        _ => [0, 15, 16, 17], // ChaCha20-Poly1305: tag only
    };

    [Theory]
    [MemberData(nameof(Suites))]
    public async Task Every_psk_suite_carries_records_of_every_size_and_survives_forged_records(int suite, string name, bool encryptThenMac)
    {
        await using var host = await StartAsync(o => o.ServerCertificate = null);
        using var client = await PskTestClient.ConnectAsync(host.DtlsEndPoint, suite, TestPskKeyStore.Identity, TestPskKeyStore.Key, encryptThenMac);
        Assert.Equal(suite, client.CipherSuite);
        Assert.Equal(encryptThenMac && name.Contains("_CBC_", StringComparison.Ordinal), client.EncryptThenMac);

        var observed = await _observer.NextAsync(Step);
        var session = observed.Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.Equal(name, session.CipherSuiteName);
        Assert.Equal(suite, session.CipherSuite);
        Assert.Equal(TestPskKeyStore.Identity, session.PskIdentity);
        Assert.Equal((TlsCipherSuite)suite, observed.Connection.Features.Get<Microsoft.AspNetCore.Connections.Features.ITlsHandshakeFeature>()!.NegotiatedCipherSuite);

        // The shortest records are the ones a too-high minimum would drop; the longest fill a datagram.
        int max = client.Dtls.GetSendLimit();
        int serverMax = observed.Connection.Features.Get<IDtlsDatagramFeature>()!.MaxRecordSize;
        output.WriteLine($"{name}: client send limit {max}, server record size {serverMax}");
        foreach (int size in new[] { 1, 2, 15, 16, 17, 31, 32, 33, 47, 48, 49, 64, 100, 1000, Math.Min(max, serverMax) })
        {
            var data = new byte[size];
            Random.Shared.NextBytes(data);
            client.Send(data);
            Assert.Equal(data, client.ReceiveExactly(size));
        }

        // Forged records on the connection's 4-tuple, every content type that reaches BouncyCastle in epoch 1.
        var random = new Random(suite);
        long sequence = 1_000_000;
        foreach (int length in ForgedLengths(suite))
        {
            foreach (byte type in new byte[] { 23, 21, 22 })
            {
                var record = new byte[13 + length];
                record[0] = type;
                record[1] = 0xFE;
                record[2] = 0xFD;
                record[4] = 1; // epoch 1
                System.Buffers.Binary.BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(7), (uint)sequence++);
                System.Buffers.Binary.BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(11), (ushort)length);
                random.NextBytes(record.AsSpan(13));
                client.Socket.Send(record);
            }

            var probe = new byte[] { (byte)length, 0x5A };
            client.Send(probe);
            Assert.Equal(probe, client.ReceiveExactly(probe.Length));
        }

        Assert.False(observed.Ended.Task.IsCompleted, "the server ended the connection on forged records");
        AssertNoErrorsBut(host);
    }

    [Fact]
    public async Task The_identity_hint_reaches_the_client_with_and_without_ECDHE()
    {
        await using var host = await StartAsync(o => o.PskIdentityHint = "sukat-hint");
        foreach (int suite in new[] { CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256, CipherSuite.TLS_PSK_WITH_AES_128_CCM_8 })
        {
            using var client = await PskTestClient.ConnectAsync(host.DtlsEndPoint, suite, TestPskKeyStore.Identity, TestPskKeyStore.Key);
            Assert.Equal("sukat-hint", client.IdentityHint);
            client.Close();
        }
    }

    [Fact]
    public async Task A_psk_only_server_serves_psk_clients_and_refuses_certificate_clients_clearly()
    {
        await using var host = await StartAsync(o => o.ServerCertificate = null);
        await using (var psk = Factory())
        {
            await using var connection = await psk.ConnectAsync(host.DtlsEndPoint);
            Assert.Equal("psk only", await EchoOnceAsync(connection, "psk only"));
        }

        // A client without a key offers certificate suites only: nothing in common.
        await using var noKey = Factory(configure: o => { o.PskIdentity = null; o.PskKey = null; o.DangerousAcceptAnyServerCertificate = true; });
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => noKey.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine(ex.Message);
        Assert.Contains("handshake_failure", ex.Message);
        Assert.Contains("no cipher suite in common", ex.Message);

        await Assert.ThrowsAnyAsync<TlsFatalAlertReceived>(() => TestDtlsClient.ConnectAsync(host.DtlsEndPoint));
        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed >= 2);
        AssertNoErrorsBut(host);
    }

    [Fact]
    public async Task A_client_with_a_key_picks_psk_from_a_server_with_both_and_validates_no_certificate()
    {
        // No trust configured for the server certificate: with PSK there is none to validate, and none is sent.
        await using var host = await StartAsync();
        await using var factory = Factory();
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.StartsWith("TLS_ECDHE_PSK_", connection.Features.Get<IDtlsSessionFeature>()!.CipherSuiteName);

        // The same server still serves certificate clients.
        using var certificateClient = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        certificateClient.Send("certificate");
        Assert.Equal("certificate", certificateClient.ReceiveText());
    }

    [Fact]
    public async Task A_client_with_a_key_falls_back_to_a_validated_certificate_when_the_server_has_no_key_store()
    {
        await using var host = await StartAsync(o => o.PskKeyStore = null);
        await using (var trusting = Factory(configure: o => o.TrustedCertificateAuthorities = TestClientCertificates.DevCa()))
        {
            await using var connection = await trusting.ConnectAsync(host.DtlsEndPoint);
            var session = connection.Features.Get<IDtlsSessionFeature>()!;
            Assert.StartsWith("TLS_ECDHE_ECDSA_", session.CipherSuiteName);
            Assert.Null(session.PskIdentity);
            Assert.Equal("CN=localhost", session.PeerCertificate!.Subject);
        }

        // The certificate is validated as without a key: here the system trust does not know the development CA.
        await using var untrusting = Factory();
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => untrusting.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("not trusted", ex.Message);
    }

    [Fact]
    public async Task A_server_requiring_client_certificates_authenticates_psk_clients_by_their_key()
    {
        await using var host = await StartAsync(o =>
        {
            o.ClientCertificateMode = Microsoft.AspNetCore.Server.Kestrel.Https.ClientCertificateMode.RequireCertificate;
            o.ClientCertificateAuthorities = TestClientCertificates.DevCa();
        });
        await using var factory = Factory();
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("key, no certificate", await EchoOnceAsync(connection, "key, no certificate"));
        var observed = await _observer.NextAsync(Step);
        Assert.Equal(TestPskKeyStore.Identity, observed.Connection.Features.Get<IDtlsSessionFeature>()!.PskIdentity);
        Assert.Null(observed.Connection.Features.Get<Microsoft.AspNetCore.Http.Features.ITlsConnectionFeature>()!.ClientCertificate);
    }

    [Fact]
    public async Task A_wrong_key_fails_fast_and_clearly_on_both_sides_and_the_server_goes_on()
    {
        // A long handshake timeout: the failure must come from the key mismatch, not from waiting.
        await using var host = await StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(30));
        var wrongKey = Convert.FromHexString("ffeeddccbbaa99887766554433221100");
        await using (var wrong = Factory(key: wrongKey, configure: o => o.HandshakeTimeout = TimeSpan.FromSeconds(30)))
        {
            var stopwatch = Stopwatch.StartNew();
            var ex = await Assert.ThrowsAsync<AuthenticationException>(() => wrong.ConnectAsync(host.DtlsEndPoint).AsTask());
            output.WriteLine($"{stopwatch.ElapsedMilliseconds} ms: {ex.Message}");
            Assert.InRange(stopwatch.Elapsed, TimeSpan.Zero, TimeSpan.FromSeconds(5));
            Assert.Contains("decrypt_error", ex.Message);
            Assert.Contains("pre-shared key for identity 'device-1' is not ours", ex.Message);
        }

        // Plain PSK too (no ECDHE): the same Finished check.
        Assert.Throws<TlsFatalAlertReceived>(() => PskTestClient.Connect(host.DtlsEndPoint, [CipherSuite.TLS_PSK_WITH_AES_128_CCM_8], TestPskKeyStore.Identity, wrongKey));

        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed >= 2);
        var mismatches = host.Logs.Entries.Where(e => e.EventId.Id == 32).ToArray();
        Assert.Equal(2, mismatches.Length);
        Assert.All(mismatches, e => Assert.Contains("'device-1'", e.Message));
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 5 && e.Message.Contains("decrypt_error", StringComparison.Ordinal));
        AssertNoErrorsBut(host);

        // The server goes on.
        await using var right = Factory();
        await using var connection = await right.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("after the wrong ones", await EchoOnceAsync(connection, "after the wrong ones"));
    }

    [Fact]
    public async Task An_unknown_identity_is_refused_with_unknown_psk_identity()
    {
        await using var host = await StartAsync();
        await using var factory = Factory(identity: "stranger");
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine(ex.Message);
        Assert.Contains("unknown_psk_identity", ex.Message);
        Assert.Contains("does not know PSK identity 'stranger'", ex.Message);
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 5));
        Assert.Contains(host.Logs.Entries, e => e.EventId.Id == 31 && e.Message.Contains("'stranger'", StringComparison.Ordinal));
        AssertNoErrorsBut(host);
    }

    [Fact]
    public async Task A_failing_key_store_fails_the_handshake_cleanly_is_logged_and_the_server_goes_on()
    {
        await using var host = await StartAsync();
        _store.Failure = new InvalidOperationException("the key database is down");
        await using var factory = Factory();
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        Assert.Contains("internal_error", ex.Message);

        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 5));
        var failure = Assert.Single(host.Logs.Entries, e => e.EventId.Id == 33);
        Assert.Equal(LogLevel.Error, failure.Level);
        Assert.IsType<InvalidOperationException>(failure.Exception);

        _store.Failure = null;
        await using var connection = await factory.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal("store is back", await EchoOnceAsync(connection, "store is back"));
    }

    [Fact]
    public async Task A_key_store_that_does_not_answer_is_abandoned_at_the_handshake_timeout()
    {
        await using var host = await StartAsync(o => o.HandshakeTimeout = TimeSpan.FromSeconds(1));
        _store.Hang = true;
        await using var factory = Factory();
        var stopwatch = Stopwatch.StartNew();
        var ex = await Assert.ThrowsAsync<AuthenticationException>(() => factory.ConnectAsync(host.DtlsEndPoint).AsTask());
        output.WriteLine($"{stopwatch.ElapsedMilliseconds} ms: {ex.Message}");
        Assert.Contains("internal_error", ex.Message);
        Assert.InRange(stopwatch.Elapsed, TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(5));
        await _store.LookupCancelled.Task.WaitAsync(Step);
        await Wait.UntilAsync(() => host.Logs.Entries.Any(e => e.EventId.Id == 34));
        AssertNoErrorsBut(host);
    }

    [Fact]
    public async Task A_resumed_psk_session_keeps_its_identity_without_asking_the_store_again()
    {
        await using var host = await StartAsync();
        await using var factory = Factory();
        DtlsResumableSession session;
        await using (var first = await factory.ConnectAsync(host.DtlsEndPoint))
        {
            Assert.Equal("first", await EchoOnceAsync(first, "first"));
            session = first.Features.Get<IDtlsSessionFeature>()!.ResumableSession!;
            Assert.NotNull(session);
            await _observer.NextAsync(Step);
        }

        await using var second = await factory.ConnectAsync(host.DtlsEndPoint, session);
        Assert.Equal("second", await EchoOnceAsync(second, "second"));
        Assert.True(second.Features.Get<IDtlsSessionFeature>()!.IsResumed);
        var serverSide = (await _observer.NextAsync(Step)).Connection.Features.Get<IDtlsSessionFeature>()!;
        Assert.True(serverSide.IsResumed);
        Assert.Equal(TestPskKeyStore.Identity, serverSide.PskIdentity);
        Assert.Equal(1, _store.Lookups);
    }
}
