using System.Net;
using Microsoft.Extensions.Options;
using SukatDtls.Samples.CoapServer;
using SukatDtls.Samples.CoapServer.Messages;
using SukatDtls.Transport.Client;
using SukatDtls.Transport.Features;
using SukatDtls.Transport.Tests.Infrastructure;
using SukatDtls.Transport.Tests.Unit;

namespace SukatDtls.Transport.Tests.Interop;

/// <summary>
/// The CoAP sample as its own process, spoken to by our client one CoAP message per DTLS record
/// (<see cref="IDtlsDatagramFeature"/>): what the messaging-layer tests check in process, over the real wire.
/// </summary>
public sealed class CoapSampleTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Step = TimeSpan.FromSeconds(20);

    [Fact]
    public async Task A_CON_gets_a_piggybacked_ACK_a_retransmission_the_same_answer_a_NON_a_NON_and_a_bad_message_a_Reset()
    {
        await using var server = await CoapSampleProcess.StartAsync(output);
        await using var factory = new DtlsConnectionFactory(
            Options.Create(new DtlsClientOptions { TrustedCertificateAuthorities = TestClientCertificates.DevCa() }),
            Microsoft.Extensions.Logging.Abstractions.NullLoggerFactory.Instance);
        await using var connection = await factory.ConnectAsync(new IPEndPoint(IPAddress.Loopback, server.Port));
        var datagrams = connection.Features.Get<IDtlsDatagramFeature>()!;
        var buffer = new byte[datagrams.MaxReceiveRecordSize];

        async Task<byte[]> ExchangeAsync(byte[] request)
        {
            await datagrams.SendAsync(request);
            int length = await datagrams.ReceiveAsync(buffer).AsTask().WaitAsync(Step);
            return buffer[..length];
        }

        var hello = CoapMessageReader.Read(await ExchangeAsync(CoapMessageWriter.Write(
            CoapMessageLayerTests.Request(CoapCode.Get, "/hello", messageId: 1, token: [9, 8, 7]))));
        Assert.Equal(CoapMessageType.Acknowledgement, hello.Type);
        Assert.Equal(1, hello.MessageId);
        Assert.Equal([9, 8, 7], hello.Token);
        Assert.Equal(HelloResource.Greeting, System.Text.Encoding.UTF8.GetString(hello.Payload));

        // The peer retransmits a CON whose ACK it did not get: the same bytes come back, /time is not read again.
        byte[] time = CoapMessageWriter.Write(CoapMessageLayerTests.Request(CoapCode.Get, "/time", messageId: 2));
        byte[] first = await ExchangeAsync(time);
        byte[] again = await ExchangeAsync(time);
        Assert.Equal(first, again);
        byte[] other = await ExchangeAsync(CoapMessageWriter.Write(CoapMessageLayerTests.Request(CoapCode.Get, "/time", messageId: 3)));
        Assert.NotEqual(CoapMessageReader.Read(first).Payload, CoapMessageReader.Read(other).Payload);

        var non = CoapMessageReader.Read(await ExchangeAsync(CoapMessageWriter.Write(
            CoapMessageLayerTests.Request(CoapCode.Get, "/hello", CoapMessageType.NonConfirmable, messageId: 4, token: [1]))));
        Assert.Equal(CoapMessageType.NonConfirmable, non.Type);
        Assert.Equal([1], non.Token);

        // A CON whose token is cut short: a Reset of its message ID, and the server goes on.
        var reset = CoapMessageReader.Read(await ExchangeAsync(Convert.FromHexString("4301BEEF01")));
        Assert.Equal(CoapMessageType.Reset, reset.Type);
        Assert.Equal(0xBEEF, reset.MessageId);
        await server.Process.WaitForLineAsync(line => line.Contains("rejected with a Reset: format error", StringComparison.Ordinal), Step,
            "the Reset in the log");
        Assert.Equal(CoapCode.Content, CoapMessageReader.Read(await ExchangeAsync(CoapMessageWriter.Write(
            CoapMessageLayerTests.Request(CoapCode.Get, "/whoami", messageId: 5)))).Code);
        Assert.Empty(server.ErrorLogLines);
    }
}
