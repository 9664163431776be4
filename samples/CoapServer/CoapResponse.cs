using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>What a resource answers (RFC 7252 §5.9): a response code, a payload with its Content-Format, other options.</summary>
internal sealed record CoapResponse(CoapCode Code, byte[] Payload, uint? ContentFormat = null, IReadOnlyList<CoapOption>? Options = null)
{
    /// <summary>A text/plain response.</summary>
    public static CoapResponse Text(CoapCode code, string text) =>
        new(code, System.Text.Encoding.UTF8.GetBytes(text), CoapContentFormat.TextPlain);

    /// <summary>An error with a diagnostic payload (RFC 7252 §5.5.2: a short text for people, no Content-Format).</summary>
    public static CoapResponse Error(CoapCode code, string diagnostic) => new(code, System.Text.Encoding.UTF8.GetBytes(diagnostic));

    /// <summary>The options this response puts in its message: its own and the Content-Format.</summary>
    public IEnumerable<CoapOption> MessageOptions()
    {
        foreach (var option in Options ?? [])
        {
            yield return option;
        }

        if (ContentFormat is { } format)
        {
            yield return CoapOption.UInt(CoapOptionNumber.ContentFormat, format);
        }
    }
}
