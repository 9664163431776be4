using SukatDtls.Samples.CoapServer;
using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The CoAP sample's own message codec (RFC 7252 §3), fuzzed: random and mutated datagrams into the reader never throw
/// anything but <see cref="CoapFormatException"/>, and whatever reads writes back as the same bytes and reads back
/// equal. Bounded and deterministic: fixed seeds, a fixed number of cases (well under a second).
/// </summary>
public sealed class CoapCodecFuzzTests
{
    private const int Cases = 20_000;

    /// <summary>Well-formed messages that between them use every encoding the format has.</summary>
    private static CoapMessage[] Seeds() =>
    [
        new() { Type = CoapMessageType.Confirmable, Code = CoapCode.Get, MessageId = 0x1234, Token = [0xAB],
            Options = [CoapOption.String(CoapOptionNumber.UriPath, ".well-known"), CoapOption.String(CoapOptionNumber.UriPath, "core")] },
        new() { Type = CoapMessageType.NonConfirmable, Code = CoapCode.Post, MessageId = 7, Token = [1, 2, 3, 4, 5, 6, 7, 8],
            Options = [CoapOption.String(CoapOptionNumber.UriPath, "echo"), CoapOption.UInt(CoapOptionNumber.ContentFormat, 0)],
            Payload = "hello"u8.ToArray() },
        new() { Type = CoapMessageType.Acknowledgement, Code = CoapCode.Content, MessageId = 65535,
            Options =
            [
                CoapOption.UInt(CoapOptionNumber.ContentFormat, 40),          // delta 12
                CoapOption.UInt(CoapOptionNumber.Size2, 300),                 // delta 16: one extended byte
                new(2052, []),                                                // delta 2024: two extended bytes
                new(65535, new byte[270]),                                    // length 270: two extended bytes
            ],
            Payload = new byte[100] },
        new() { Type = CoapMessageType.Confirmable, Code = new CoapCode(7, 31), MessageId = 0, Token = [0],
            Options = [new(CoapOptionNumber.UriHost, new byte[13]), new(CoapOptionNumber.UriHost, new byte[12])] },
        CoapMessage.Empty(CoapMessageType.Reset, 0xBEEF),
        CoapMessage.Empty(CoapMessageType.Confirmable, 1),
    ];

    [Fact]
    public void Every_seed_writes_and_reads_back_equal()
    {
        foreach (var seed in Seeds())
        {
            byte[] written = CoapMessageWriter.Write(seed);
            var read = CoapMessageReader.Read(written);
            AssertEqual(seed, read);
            Assert.Equal(written, CoapMessageWriter.Write(read));
        }
    }

    [Fact]
    public void Random_datagrams_only_ever_fail_with_a_format_error_and_what_reads_writes_back_the_same_bytes()
    {
        var random = new Random(7252);
        var outcome = new Outcome();
        for (int i = 0; i < Cases; i++)
        {
            var datagram = new byte[random.Next(0, 40)];
            random.NextBytes(datagram);
            if (datagram.Length > 0 && random.Next(2) == 0)
            {
                // Half with version 1 and a token length of at most 8, or most would fail at the first byte.
                datagram[0] = (byte)(0x40 | (datagram[0] & 0x30) | random.Next(9));
            }

            RoundTrip(datagram, outcome);
        }

        // Not vacuous: both kinds happened often (random options rarely line up, so fewer read).
        Assert.InRange(outcome.Read, 500, Cases);
        Assert.InRange(outcome.FormatErrors, 1000, Cases);
    }

    [Fact]
    public void Mutated_messages_only_ever_fail_with_a_format_error_and_what_reads_writes_back_the_same_bytes()
    {
        var random = new Random(6690);
        var seeds = Seeds().Select(CoapMessageWriter.Write).ToArray();
        var outcome = new Outcome();
        for (int i = 0; i < Cases; i++)
        {
            RoundTrip(Mutate(seeds[random.Next(seeds.Length)], random), outcome);
        }

        Assert.InRange(outcome.Read, 1000, Cases);
        Assert.InRange(outcome.FormatErrors, 1000, Cases);
    }

    // The whole messaging layer with the sample's resources: whatever comes in, it does not throw, and what it sends
    // back is one well-formed message of a type a server may send, fitting the record.
    [Fact]
    public void The_messaging_layer_answers_every_fuzzed_datagram_with_at_most_one_well_formed_message()
    {
        const int RecordSize = 1195;
        var layer = new CoapMessageLayer(CoapRouter.Sample(TimeProvider.System), new CoapPeer("fuzz"), new CoapDuplicateCache(TimeProvider.System),
            () => RecordSize);
        var random = new Random(4);
        var seeds = Seeds().Select(CoapMessageWriter.Write).Concat(CoapMessageLayerTests.SampleRequests().Select(CoapMessageWriter.Write)).ToArray();
        int answered = 0;
        for (int i = 0; i < Cases; i++)
        {
            byte[] datagram = Mutate(seeds[random.Next(seeds.Length)], random);
            var handled = layer.Handle(datagram);
            if (handled.Answer is not { } answer)
            {
                Assert.Equal(CoapOutcome.Ignored, handled.Outcome);
                continue;
            }

            answered++;
            var message = CoapMessageReader.Read(answer);
            Assert.True(answer.Length <= RecordSize, $"{answer.Length} bytes answer {Convert.ToHexString(datagram)}");
            Assert.NotEqual(CoapMessageType.Confirmable, message.Type);
            Assert.True(CoapMessageReader.TryReadHeader(datagram, out _, out var type, out ushort messageId));
            if (message.Type != CoapMessageType.NonConfirmable)
            {
                Assert.Equal(messageId, message.MessageId); // an ACK or RST refers to what it answers
            }

            Assert.NotEqual(CoapMessageType.Acknowledgement, type); // ACKs and RSTs are never answered
            Assert.NotEqual(CoapMessageType.Reset, type);
        }

        Assert.InRange(answered, 1000, Cases);
    }

    private sealed class Outcome
    {
        public int Read;
        public int FormatErrors;
    }

    private static void RoundTrip(byte[] datagram, Outcome outcome)
    {
        CoapMessage message;
        try
        {
            message = CoapMessageReader.Read(datagram);
        }
        catch (CoapFormatException)
        {
            outcome.FormatErrors++;
            return;
        }

        // Anything else thrown above fails the test, naming the input.
        outcome.Read++;
        byte[] written = CoapMessageWriter.Write(message);
        Assert.True(datagram.AsSpan().SequenceEqual(written), $"{Convert.ToHexString(datagram)} was read and written as {Convert.ToHexString(written)}");
        AssertEqual(message, CoapMessageReader.Read(written));
    }

    /// <summary>One to three of: flip a bit, set a byte, insert a byte, delete a byte, cut the end, append bytes.</summary>
    private static byte[] Mutate(byte[] original, Random random)
    {
        var bytes = new List<byte>(original);
        for (int n = random.Next(1, 4); n > 0; n--)
        {
            int at = bytes.Count == 0 ? 0 : random.Next(bytes.Count);
            switch (random.Next(6))
            {
                case 0 when bytes.Count > 0:
                    bytes[at] ^= (byte)(1 << random.Next(8));
                    break;
                case 1 when bytes.Count > 0:
                    bytes[at] = (byte)random.Next(256);
                    break;
                case 2:
                    bytes.Insert(at, (byte)random.Next(256));
                    break;
                case 3 when bytes.Count > 0:
                    bytes.RemoveAt(at);
                    break;
                case 4:
                    bytes.RemoveRange(at, bytes.Count - at);
                    break;
                default:
                    bytes.AddRange(Enumerable.Range(0, random.Next(1, 20)).Select(_ => (byte)random.Next(256)));
                    break;
            }
        }

        return [.. bytes];
    }

    private static void AssertEqual(CoapMessage expected, CoapMessage actual)
    {
        Assert.Equal(expected.Type, actual.Type);
        Assert.Equal(expected.Code, actual.Code);
        Assert.Equal(expected.MessageId, actual.MessageId);
        Assert.Equal(expected.Token, actual.Token);
        Assert.Equal(expected.Options.Select(o => (o.Number, Convert.ToHexString(o.Value))), actual.Options.Select(o => (o.Number, Convert.ToHexString(o.Value))));
        Assert.Equal(expected.Payload, actual.Payload);
    }
}
