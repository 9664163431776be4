using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// <c>GET /whoami</c>: how the DTLS handshake authenticated the client — its pre-shared key identity, the SHA-256 of its
/// raw public key, its certificate's subject, or anonymous. What a device registry would key its data on.
/// </summary>
internal sealed class WhoAmIResource : CoapResource
{
    public override string Path => "/whoami";

    public override string LinkAttributes => ";rt=\"example.whoami\";ct=0;title=\"How your DTLS handshake authenticated you\"";

    public override bool Allows(CoapCode method) => method == CoapCode.Get;

    public override CoapResponse Handle(CoapRequest request) => CoapResponse.Text(CoapCode.Content, request.Peer.Description);
}
