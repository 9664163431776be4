namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>
/// A CoAP message (RFC 7252 §3): the header (type, code, message ID), a token of 0 to 8 bytes, options in the order of
/// their numbers, and a payload. <see cref="CoapMessageReader"/> makes one from bytes, <see cref="CoapMessageWriter"/>
/// bytes from one.
/// </summary>
internal sealed class CoapMessage
{
    /// <summary>The one version there is (the header's Ver field).</summary>
    public const int Version = 1;

    /// <summary>The longest token (RFC 7252 §3: TKL 9 to 15 are reserved).</summary>
    public const int MaxTokenLength = 8;

    public required CoapMessageType Type { get; init; }

    public required CoapCode Code { get; init; }

    public required ushort MessageId { get; init; }

    public byte[] Token { get; init; } = [];

    /// <summary>In ascending option number; options with the same number in the order they came (it matters for Uri-Path).</summary>
    public IReadOnlyList<CoapOption> Options { get; init; } = [];

    public byte[] Payload { get; init; } = [];

    /// <summary>The values of every option with <paramref name="number"/>, in order.</summary>
    public IEnumerable<CoapOption> All(int number) => Options.Where(option => option.Number == number);

    /// <summary>The first option with <paramref name="number"/>, or null.</summary>
    public CoapOption? First(int number)
    {
        foreach (var option in Options)
        {
            if (option.Number == number)
            {
                return option;
            }
        }

        return null;
    }

    /// <summary>An Empty message (code 0.00, no token, nothing after the header): an ACK or a Reset of <paramref name="messageId"/>.</summary>
    public static CoapMessage Empty(CoapMessageType type, ushort messageId) => new() { Type = type, Code = CoapCode.Empty, MessageId = messageId };

    public override string ToString() =>
        $"{Type} {Code} mid {MessageId} token {Convert.ToHexStringLower(Token)} options [{string.Join(", ", Options.Select(o => $"{o.Number}:{o.Value.Length}"))}] payload {Payload.Length} bytes";
}
