using System.Text;
using Microsoft.Extensions.DependencyInjection;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// The server's own ECDHE handshake (<c>EcdheServerHandshake</c>) against a scripted client
/// (<see cref="ScriptedDtlsClient"/>): a Finished computed wrongly on purpose, an invalid key share, and a final flight
/// that comes in an unusual order or in fragments. Honest clients (OpenSSL, BouncyCastle) are the interop tests'.
/// </summary>
public sealed class OwnServerHandshakeHostileTests(ITestOutputHelper output)
{
    private const byte Fatal = 2;
    private const byte IllegalParameter = 47;
    private const byte DecryptError = 51;
    private const int HandshakeFailedEvent = 5;

    private readonly ConnectionObserver _observer = new();

    private Task<DtlsTestHost> StartAsync() =>
        DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(_observer));

    /// <summary>Runs the scripted handshake, asserts it completed, and echoes one record through the connection.</summary>
    private static async Task HandshakeAndEchoAsync(DtlsTestHost host, ScriptedClientOptions options)
    {
        using var client = ScriptedDtlsClient.Create(host.DtlsEndPoint, options);
        var result = await client.HandshakeAsync();
        Assert.Equal(new ScriptedHandshakeResult(Completed: true), result);

        await client.SendApplicationDataAsync("over the scripted client"u8);
        Assert.Equal("over the scripted client", Encoding.UTF8.GetString(await client.ReceiveApplicationDataAsync()));

        // Ours, not BouncyCastle's: the handshake this test is about.
        await Wait.UntilAsync(() => host.Listener.Statistics.OwnHandshakesCompleted == 1);
        Assert.Equal(1, host.Listener.Statistics.HandshakesCompleted);
        Assert.Equal(0, host.Listener.Statistics.HandshakesFailed);
    }

    /// <summary>Runs the scripted handshake, asserts the server's fatal alert, and that the handshake failed for that reason.</summary>
    private async Task HandshakeFailsAsync(DtlsTestHost host, ScriptedClientOptions options, byte alert, string alertName, string reason)
    {
        using var client = ScriptedDtlsClient.Create(host.DtlsEndPoint, options);
        var result = await client.HandshakeAsync();
        Assert.Equal(new ScriptedHandshakeResult(Completed: false, Fatal, alert), result);

        await Wait.UntilAsync(() => host.Listener.Statistics.HandshakesFailed == 1 && host.Listener.PeerCount == 0);
        Assert.Equal(0, host.Listener.Statistics.HandshakesCompleted);
        Assert.Empty(_observer.All);
        var failure = Assert.Single(host.Logs.Entries, e => e.EventId.Id == HandshakeFailedEvent);
        Assert.Contains(reason, failure.Message, StringComparison.Ordinal);

        // The alert named once ("decrypt_error(51); why"), not twice as BouncyCastle's message and our prefix both did.
        Assert.Single(System.Text.RegularExpressions.Regex.Matches(failure.Message, System.Text.RegularExpressions.Regex.Escape(alertName)));
    }

    [Fact]
    public async Task The_scripted_client_completes_the_handshake_and_its_data_is_echoed()
    {
        // Proves the client itself right, so that the failures below are the server's doing.
        await using var host = await StartAsync();
        await HandshakeAndEchoAsync(host, new ScriptedClientOptions());
    }

    [Fact]
    public async Task Each_handshake_draws_its_own_server_random_session_ID_and_key_share()
    {
        // They come from one draw of the platform's generator per handshake: each must be its own part of it.
        await using var host = await StartAsync();
        var seen = new List<byte[]>();
        for (int i = 0; i < 2; i++)
        {
            using var client = ScriptedDtlsClient.Create(host.DtlsEndPoint);
            Assert.True((await client.HandshakeAsync()).Completed);
            Assert.Equal(32, client.ServerRandom.Length);
            Assert.Equal(32, client.ServerSessionId.Length);
            Assert.Equal(32, client.ServerKeyShare.Length);
            seen.AddRange([client.ServerRandom, client.ServerSessionId, client.ServerKeyShare]);
        }

        Assert.Equal(seen.Count, seen.Select(Convert.ToHexString).Distinct().Count());
    }

    [Fact]
    public async Task A_Finished_that_authenticates_but_is_wrong_ends_the_handshake_with_decrypt_error()
    {
        await using var host = await StartAsync();
        await HandshakeFailsAsync(host, new ScriptedClientOptions { CorruptFinished = true }, DecryptError, "decrypt_error",
            "the client's Finished does not match the handshake");
    }

    [Fact]
    public async Task An_all_zero_X25519_key_share_ends_the_handshake_with_illegal_parameter()
    {
        await using var host = await StartAsync();
        await HandshakeFailsAsync(host, new ScriptedClientOptions { InvalidKeyShare = true }, IllegalParameter, "illegal_parameter",
            "the client's ECDHE public key is not valid");
    }

    [Fact]
    public async Task A_Finished_that_overtakes_the_key_exchange_is_kept_until_the_keys_are_there()
    {
        // The client sends nothing twice: if the server dropped the early Finished, the client's receive times out.
        await using var host = await StartAsync();
        await HandshakeAndEchoAsync(host, new ScriptedClientOptions { FinishedFirst = true, ReceiveTimeout = TimeSpan.FromSeconds(3) });
    }

    /// <summary>
    /// Application data the client sends before our Finished reached it — after its own Finished in the same datagram,
    /// or ahead of its whole flight (reordered) — is the record layer's once the handshake is done: echoed, not lost.
    /// </summary>
    /// <param name="first">The record comes in a datagram of its own before the key exchange (else after the Finished, in its datagram).</param>
    /// <param name="receiveLoops">The handshake waits between datagrams on the receive loops (else on a handshake thread).</param>
    [Theory]
    [InlineData(false, true)]
    [InlineData(true, true)]
    [InlineData(false, false)]
    [InlineData(true, false)]
    public async Task Application_data_sent_with_the_final_flight_reaches_the_application(bool first, bool receiveLoops)
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, o => o.UseOwnReceiveLoops = receiveLoops,
            configureServices: s => s.AddSingleton(_observer));
        using var client = ScriptedDtlsClient.Create(host.DtlsEndPoint, new ScriptedClientOptions
        {
            EarlyApplicationData = "early"u8.ToArray(),
            EarlyApplicationDataFirst = first,
            ReceiveTimeout = TimeSpan.FromSeconds(3),
        });
        Assert.Equal(new ScriptedHandshakeResult(Completed: true), await client.HandshakeAsync());

        // The client sent it once: it comes back only if the server kept it.
        Assert.Equal("early", Encoding.UTF8.GetString(await client.ReceiveApplicationDataAsync()));
        await Wait.UntilAsync(() => host.Listener.Statistics.OwnHandshakesCompleted == 1);
    }

    [Fact]
    public async Task A_key_exchange_in_two_fragments_second_half_first_is_put_back_together()
    {
        await using var host = await StartAsync();
        await HandshakeAndEchoAsync(host, new ScriptedClientOptions { FragmentKeyExchange = true, ReceiveTimeout = TimeSpan.FromSeconds(3) });
    }
}
