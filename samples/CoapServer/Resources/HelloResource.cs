using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary><c>GET /hello</c>: a greeting, the smallest thing to ask a CoAP server for.</summary>
internal sealed class HelloResource : CoapResource
{
    public const string Greeting = "Hello from SukatDtls over CoAP and DTLS!";

    public override string Path => "/hello";

    public override string LinkAttributes => ";rt=\"example.hello\";ct=0;title=\"A greeting\"";

    public override bool Allows(CoapCode method) => method == CoapCode.Get;

    public override CoapResponse Handle(CoapRequest request) => CoapResponse.Text(CoapCode.Content, Greeting);
}
