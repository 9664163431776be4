using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>A request as a resource sees it (RFC 7252 §5.8): method, path, query, payload, and who sent it.</summary>
/// <param name="Method">GET, POST, … (a code of class 0).</param>
/// <param name="Path">The Uri-Path options joined: <c>/hello</c>, <c>/.well-known/core</c>; <c>/</c> for none.</param>
/// <param name="Query">The Uri-Query options, in order.</param>
/// <param name="Payload">The request's payload.</param>
/// <param name="ContentFormat">The payload's Content-Format, when the request names one.</param>
/// <param name="Peer">How the DTLS peer authenticated.</param>
/// <param name="MaxResponsePayload">The largest payload a response can carry: the whole response goes in one DTLS record.</param>
internal sealed record CoapRequest(CoapCode Method, string Path, IReadOnlyList<string> Query, byte[] Payload, uint? ContentFormat, CoapPeer Peer,
    int MaxResponsePayload)
{
    /// <summary>What a message carries; its options are understood already (<see cref="CoapOptionRules"/>).</summary>
    public static CoapRequest From(CoapMessage message, CoapPeer peer, int maxResponsePayload)
    {
        var segments = message.All(CoapOptionNumber.UriPath).Select(option => option.AsString());
        var query = message.All(CoapOptionNumber.UriQuery).Select(option => option.AsString()).ToArray();
        uint? contentFormat = message.First(CoapOptionNumber.ContentFormat) is { } format
            && CoapOptionRules.IsUnderstood(format, repeated: false) ? format.AsUInt() : null;
        return new CoapRequest(message.Code, "/" + string.Join('/', segments), query, message.Payload, contentFormat, peer, maxResponsePayload);
    }
}
