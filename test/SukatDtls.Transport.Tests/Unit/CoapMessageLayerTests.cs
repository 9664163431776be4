using Microsoft.Extensions.Time.Testing;
using SukatDtls.Samples.CoapServer;
using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The CoAP sample's messaging layer and resources in process (RFC 7252 §4-5): piggybacked ACKs, NON responses, the
/// duplicate cache, critical options, Resets for bad messages, and the resources' answers. The sample as a process,
/// with real clients, is in the interop tests.
/// </summary>
public sealed class CoapMessageLayerTests
{
    private const int RecordSize = 1195;

    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 12, 4, 12, 0, 0, TimeSpan.Zero));

    private CoapMessageLayer NewLayer() =>
        new(CoapRouter.Sample(_time), new CoapPeer("pre-shared key 'device-1'"), new CoapDuplicateCache(_time), () => RecordSize);

    /// <summary>A request of the sample's kind, for the fuzz tests' seeds too.</summary>
    internal static CoapMessage Request(CoapCode method, string path, CoapMessageType type = CoapMessageType.Confirmable, ushort messageId = 0x1234,
        byte[]? token = null, byte[]? payload = null, params CoapOption[] options) => new()
    {
        Type = type,
        Code = method,
        MessageId = messageId,
        Token = token ?? [0xCA, 0xFE],
        Options = [.. path.Split('/', StringSplitOptions.RemoveEmptyEntries).Select(s => CoapOption.String(CoapOptionNumber.UriPath, s)), .. options],
        Payload = payload ?? [],
    };

    internal static IEnumerable<CoapMessage> SampleRequests() =>
    [
        Request(CoapCode.Get, "/hello"),
        Request(CoapCode.Get, "/.well-known/core", CoapMessageType.NonConfirmable),
        Request(CoapCode.Post, "/echo", payload: "ping"u8.ToArray(), options: CoapOption.UInt(CoapOptionNumber.ContentFormat, 0)),
        Request(CoapCode.Get, "/time", token: []),
    ];

    private static CoapMessage Answer(CoapHandled handled) =>
        CoapMessageReader.Read(handled.Answer ?? throw new Xunit.Sdk.XunitException($"no answer ({handled.Outcome}: {handled.Detail})"));

    private static string Text(CoapMessage message) => System.Text.Encoding.UTF8.GetString(message.Payload);

    [Fact]
    public void A_confirmable_request_gets_its_response_piggybacked_on_the_ACK_with_its_message_ID_and_token()
    {
        var layer = NewLayer();
        var handled = layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", token: [1, 2, 3, 4, 5, 6, 7, 8])));
        Assert.Equal(CoapOutcome.Answered, handled.Outcome);
        var answer = Answer(handled);
        Assert.Equal(CoapMessageType.Acknowledgement, answer.Type);
        Assert.Equal(0x1234, answer.MessageId);
        Assert.Equal([1, 2, 3, 4, 5, 6, 7, 8], answer.Token);
        Assert.Equal(CoapCode.Content, answer.Code);
        Assert.Equal(HelloResource.Greeting, Text(answer));
        Assert.Equal(CoapContentFormat.TextPlain, answer.First(CoapOptionNumber.ContentFormat)!.Value.AsUInt());
    }

    [Fact]
    public void A_non_confirmable_request_gets_a_NON_response_with_a_message_ID_of_the_servers_and_its_token()
    {
        var layer = NewLayer();
        var first = Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", CoapMessageType.NonConfirmable, messageId: 10, token: [7]))));
        var second = Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", CoapMessageType.NonConfirmable, messageId: 11, token: [8]))));
        Assert.Equal(CoapMessageType.NonConfirmable, first.Type);
        Assert.Equal([7], first.Token);
        Assert.Equal([8], second.Token);
        Assert.Equal((ushort)(first.MessageId + 1), second.MessageId);
        Assert.Equal(HelloResource.Greeting, Text(second));
    }

    [Fact]
    public void A_retransmitted_confirmable_request_is_answered_from_the_cache_and_not_executed_again_until_the_exchange_lifetime_ends()
    {
        var layer = NewLayer();
        byte[] request = CoapMessageWriter.Write(Request(CoapCode.Get, "/time", messageId: 42));
        var first = layer.Handle(request);
        Assert.Equal("2026-12-04T12:00:00.0000000+00:00", Text(Answer(first)));

        // The clock moved: an executed request would answer another time.
        _time.Advance(TimeSpan.FromSeconds(5));
        var again = layer.Handle(request);
        Assert.Equal(CoapOutcome.AnsweredFromCache, again.Outcome);
        Assert.Equal(first.Answer, again.Answer);

        // Another message ID is another request.
        Assert.Equal("2026-12-04T12:00:05.0000000+00:00", Text(Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/time", messageId: 43))))));

        // After EXCHANGE_LIFETIME (247 s) the ID may be a new request of the peer's.
        _time.Advance(CoapDuplicateCache.Lifetime);
        var reused = layer.Handle(request);
        Assert.Equal(CoapOutcome.Answered, reused.Outcome);
        Assert.Equal("2026-12-04T12:04:12.0000000+00:00", Text(Answer(reused)));
    }

    [Fact]
    public void The_duplicate_cache_keeps_the_latest_64_message_IDs_and_ignores_a_repeated_NON()
    {
        var layer = NewLayer();
        byte[] non = CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", CoapMessageType.NonConfirmable, messageId: 1));
        Assert.Equal(CoapOutcome.Answered, layer.Handle(non).Outcome);
        Assert.Equal(CoapOutcome.Ignored, layer.Handle(non).Outcome);

        for (ushort id = 2; id <= CoapDuplicateCache.Capacity; id++)
        {
            layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: id)));
        }

        Assert.Equal(CoapOutcome.AnsweredFromCache, layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: 2))).Outcome);
        layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: 1000))); // the 65th: the oldest (1) goes
        Assert.Equal(CoapOutcome.Answered, layer.Handle(non).Outcome);
    }

    public static TheoryData<int, int> UnknownCriticalOptions => new()
    {
        { 2053, 0 },                        // no such option
        { CoapOptionNumber.IfMatch, 0 },    // a real one this server does not implement
        { CoapOptionNumber.Block2, 1 },     // block-wise transfer is not implemented
        { CoapOptionNumber.UriPath, 256 },  // a known one, its value too long (§5.4.3)
    };

    [Theory]
    [MemberData(nameof(UnknownCriticalOptions))]
    public void A_critical_option_not_understood_gives_4_02_to_a_CON_and_a_Reset_to_a_NON(int number, int length)
    {
        var layer = NewLayer();
        var con = Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: 1, options: new CoapOption(number, new byte[length])))));
        Assert.Equal(CoapMessageType.Acknowledgement, con.Type);
        Assert.Equal(CoapCode.BadOption, con.Code);
        Assert.Equal([0xCA, 0xFE], con.Token);
        Assert.Equal($"option {number} not understood", Text(con));

        var non = layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", CoapMessageType.NonConfirmable, messageId: 2,
            options: new CoapOption(number, new byte[length]))));
        Assert.Equal(CoapOutcome.Reset, non.Outcome);
        Assert.Equal(CoapMessage.Empty(CoapMessageType.Reset, 2).ToString(), Answer(non).ToString());
    }

    [Fact]
    public void Elective_options_not_understood_are_ignored_and_a_non_repeatable_critical_one_repeated_is_not_understood()
    {
        var layer = NewLayer();
        var elective = Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: 1,
            options: [new CoapOption(2052, [1]), CoapOption.UInt(CoapOptionNumber.Observe, 0), CoapOption.String(CoapOptionNumber.UriHost, "localhost"),
                CoapOption.UInt(CoapOptionNumber.UriPort, 5684)]))));
        Assert.Equal(CoapCode.Content, elective.Code);

        var repeated = Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: 2,
            options: [CoapOption.String(CoapOptionNumber.UriHost, "a"), CoapOption.String(CoapOptionNumber.UriHost, "b")]))));
        Assert.Equal(CoapCode.BadOption, repeated.Code);
    }

    public static TheoryData<string, string> BadMessages => new()
    {
        { "4101BEEF", "the token is cut short" },
        { "4901BEEF0102030405060708090A", "token length 9" },
        { "4001BEEFFF", "a payload marker with no payload" },
        { "4001BEEFF1", "option delta 15" },
        { "4001BEEFBD", "an extended option delta cut short" },
        { "4001BEEFB5616263", "an option value cut short" },
        { "4000BEEF", "an Empty CON: a ping" },
        { "5000BEEF", "an Empty NON" },
        { "4100BEEFAA", "an Empty message with a token" },
        { "40E0BEEF", "a reserved code class (7)" },
        { "4020BEEF", "a reserved code class (1)" },
        { "4045BEEF", "a response (2.05) in a CON" },
        { "5084BEEF", "a response (4.04) in a NON" },
    };

    [Theory]
    [MemberData(nameof(BadMessages))]
    public void A_bad_message_gets_a_Reset_with_its_message_ID_and_the_next_request_is_answered(string hex, string what)
    {
        var layer = NewLayer();
        var handled = layer.Handle(Convert.FromHexString(hex));
        Assert.True(handled.Outcome == CoapOutcome.Reset, $"{what}: {handled.Outcome} ({handled.Detail})");
        var reset = Answer(handled);
        Assert.Equal(CoapMessageType.Reset, reset.Type);
        Assert.Equal(0xBEEF, reset.MessageId);
        Assert.True(reset.Code.IsEmpty);

        Assert.Equal(CoapCode.Content, Answer(layer.Handle(CoapMessageWriter.Write(Request(CoapCode.Get, "/hello", messageId: 1)))).Code);
    }

    [Theory]
    [InlineData("6045BEEF", "an ACK: we send no CON that it could acknowledge")]
    [InlineData("7000BEEF", "a Reset")]
    [InlineData("8001BEEF", "version 2")]
    [InlineData("4001BE", "three bytes: no message ID to refer to")]
    [InlineData("", "nothing")]
    public void Acks_resets_other_versions_and_runts_are_ignored(string hex, string what)
    {
        var handled = NewLayer().Handle(Convert.FromHexString(hex));
        Assert.True(handled.Outcome == CoapOutcome.Ignored && handled.Answer is null, $"{what}: {handled.Outcome} ({handled.Detail})");
    }

    [Fact]
    public void Resources_answer_with_the_codes_of_RFC_7252()
    {
        var layer = NewLayer();
        ushort id = 100;
        CoapMessage Ask(CoapMessage request) => Answer(layer.Handle(CoapMessageWriter.Write(request)));

        var core = Ask(Request(CoapCode.Get, "/.well-known/core", messageId: id++));
        Assert.Equal(CoapCode.Content, core.Code);
        Assert.Equal(CoapContentFormat.LinkFormat, core.First(CoapOptionNumber.ContentFormat)!.Value.AsUInt());
        Assert.Equal("</hello>;rt=\"example.hello\";ct=0;title=\"A greeting\",</time>;rt=\"example.time\";ct=0;title=\"The server's clock (UTC)\","
            + "</echo>;rt=\"example.echo\";title=\"POST a payload, get it back\",</whoami>;rt=\"example.whoami\";ct=0;title=\"How your DTLS handshake authenticated you\"",
            Text(core));

        var echo = Ask(Request(CoapCode.Post, "/echo", messageId: id++, payload: [0, 1, 2, 0xFF], options: CoapOption.UInt(CoapOptionNumber.ContentFormat, 42)));
        Assert.Equal(CoapCode.Changed, echo.Code);
        Assert.Equal([0, 1, 2, 0xFF], echo.Payload);
        Assert.Equal(42u, echo.First(CoapOptionNumber.ContentFormat)!.Value.AsUInt());

        Assert.Equal("pre-shared key 'device-1'", Text(Ask(Request(CoapCode.Get, "/whoami", messageId: id++))));
        Assert.Equal(CoapCode.NotFound, Ask(Request(CoapCode.Get, "/nothing/here", messageId: id++)).Code);
        Assert.Equal(CoapCode.MethodNotAllowed, Ask(Request(CoapCode.Delete, "/hello", messageId: id++)).Code);
        Assert.Equal(CoapCode.MethodNotAllowed, Ask(Request(CoapCode.Get, "/echo", messageId: id++)).Code);
        Assert.Equal(CoapCode.MethodNotAllowed, Ask(Request(new CoapCode(0, 31), "/hello", messageId: id++)).Code); // unassigned method
        Assert.Equal(CoapCode.NotAcceptable, Ask(Request(CoapCode.Get, "/hello", messageId: id++, options: CoapOption.UInt(CoapOptionNumber.Accept, 50))).Code);
        Assert.Equal(CoapCode.Content, Ask(Request(CoapCode.Get, "/hello", messageId: id++, options: CoapOption.UInt(CoapOptionNumber.Accept, 0))).Code);
        Assert.Equal(CoapCode.ProxyingNotSupported,
            Ask(Request(CoapCode.Get, "/", messageId: id++, options: CoapOption.String(CoapOptionNumber.ProxyUri, "coap://example.com/x"))).Code);

        // An echo that could not come back in one record: 4.13 with Size1, the most it takes.
        var tooLarge = Ask(Request(CoapCode.Post, "/echo", messageId: id++, payload: new byte[RecordSize]));
        Assert.Equal(CoapCode.RequestEntityTooLarge, tooLarge.Code);
        Assert.InRange(tooLarge.First(CoapOptionNumber.Size1)!.Value.AsUInt(), 1000u, (uint)RecordSize);
    }
}
