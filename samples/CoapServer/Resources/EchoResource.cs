using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary><c>POST /echo</c> (or PUT): the request's payload back, in its Content-Format, with 2.04 Changed.</summary>
internal sealed class EchoResource : CoapResource
{
    public override string Path => "/echo";

    public override string LinkAttributes => ";rt=\"example.echo\";title=\"POST a payload, get it back\"";

    /// <summary>Whatever the request's payload is in.</summary>
    public override uint? ContentFormat => null;

    public override bool Allows(CoapCode method) => method == CoapCode.Post || method == CoapCode.Put;

    public override CoapResponse Handle(CoapRequest request)
    {
        if (request.Payload.Length > request.MaxResponsePayload)
        {
            // The answer must fit one record (no block-wise transfer here): 4.13 with Size1, the most we take (RFC 7959 §4).
            return new CoapResponse(CoapCode.RequestEntityTooLarge, System.Text.Encoding.UTF8.GetBytes("too large to echo in one message"),
                Options: [CoapOption.UInt(CoapOptionNumber.Size1, (uint)request.MaxResponsePayload)]);
        }

        return new CoapResponse(CoapCode.Changed, request.Payload, request.ContentFormat);
    }
}
