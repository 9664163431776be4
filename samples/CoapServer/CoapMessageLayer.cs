using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// The messaging layer of one connection (RFC 7252 §4): message types, message IDs, duplicates, rejection. A datagram
/// in, at most one datagram out; nothing here throws on what a peer sends.
/// </summary>
/// <remarks>
/// The rules it keeps: a Confirmable request gets its response piggybacked on the ACK (same message ID, §5.2.1), a
/// Non-confirmable one a NON response with a message ID of ours (§5.2.3); the token is echoed (§5.3.1). A Confirmable
/// message seen before gets the same answer from <see cref="CoapDuplicateCache"/>, a Non-confirmable one is ignored
/// (§4.5). A message with a format error (including the reserved codes, §4.2), an Empty CON (a "CoAP ping", §4.3) and
/// a response we did not ask for are rejected with a Reset; a request with a critical option we do not understand gets
/// 4.02 Bad Option when it is Confirmable and a Reset when it is not (§5.4.1). ACKs and RSTs are never answered, and
/// messages of another version are ignored (§3).
/// </remarks>
internal sealed class CoapMessageLayer(CoapRouter router, CoapPeer peer, CoapDuplicateCache duplicates, Func<int> maxDatagramSize)
{
    private ushort _nextMessageId = (ushort)Random.Shared.Next(ushort.MaxValue + 1);

    public CoapHandled Handle(ReadOnlySpan<byte> datagram)
    {
        if (!CoapMessageReader.TryReadHeader(datagram, out int version, out var type, out ushort messageId))
        {
            return new(CoapOutcome.Ignored, null, $"{datagram.Length} bytes, no CoAP header");
        }

        if (version != CoapMessage.Version || type is CoapMessageType.Acknowledgement or CoapMessageType.Reset)
        {
            return new(CoapOutcome.Ignored, null, $"version {version} {type}");
        }

        if (duplicates.TryGet(messageId, out byte[]? cached))
        {
            return type == CoapMessageType.Confirmable
                ? new(CoapOutcome.AnsweredFromCache, cached, $"retransmitted {type} mid {messageId}")
                : new(CoapOutcome.Ignored, null, $"duplicate {type} mid {messageId}");
        }

        var handled = Process(datagram, type, messageId);
        duplicates.Add(messageId, handled.Answer);
        return handled;
    }

    private CoapHandled Process(ReadOnlySpan<byte> datagram, CoapMessageType type, ushort messageId)
    {
        CoapMessage message;
        try
        {
            message = CoapMessageReader.Read(datagram);
        }
        catch (CoapFormatException ex)
        {
            return Reset(messageId, "format error: " + ex.Message);
        }

        if (message.Code.IsEmpty)
        {
            return Reset(messageId, type == CoapMessageType.Confirmable ? "ping (Empty CON)" : "Empty NON (a format error)");
        }

        if (message.Code.IsReserved)
        {
            return Reset(messageId, $"reserved code {message.Code}");
        }

        if (!message.Code.IsRequest)
        {
            return Reset(messageId, $"a response ({message.Code}) to no request of ours");
        }

        if (CoapOptionRules.FirstUnrecognizedCritical(message) is { } option)
        {
            return type == CoapMessageType.Confirmable
                ? Respond(message, CoapResponse.Error(CoapCode.BadOption, $"option {option} not understood"))
                : Reset(messageId, $"NON request with critical option {option} not understood");
        }

        var request = CoapRequest.From(message, peer, MaxPayload(message));
        return Respond(message, router.Handle(request, message));
    }

    private CoapHandled Respond(CoapMessage request, CoapResponse response)
    {
        bool piggybacked = request.Type == CoapMessageType.Confirmable;
        var answer = new CoapMessage
        {
            Type = piggybacked ? CoapMessageType.Acknowledgement : CoapMessageType.NonConfirmable,
            Code = response.Code,
            MessageId = piggybacked ? request.MessageId : _nextMessageId++,
            Token = request.Token,
            Options = response.MessageOptions().ToArray(),
            Payload = response.Payload,
        };
        return new(CoapOutcome.Answered, CoapMessageWriter.Write(answer), $"{request.Type} {request.Code} {PathOf(request)} -> {response.Code}");
    }

    private static CoapHandled Reset(ushort messageId, string why) =>
        new(CoapOutcome.Reset, CoapMessageWriter.Write(CoapMessage.Empty(CoapMessageType.Reset, messageId)), why);

    /// <summary>What is left of one datagram for a response's payload after its header, token and a few options.</summary>
    private int MaxPayload(CoapMessage request) => Math.Max(0, maxDatagramSize() - CoapMessageReader.HeaderLength - request.Token.Length - 16);

    private static string PathOf(CoapMessage message) =>
        "/" + string.Join('/', message.All(CoapOptionNumber.UriPath).Select(option => option.AsString()));
}
