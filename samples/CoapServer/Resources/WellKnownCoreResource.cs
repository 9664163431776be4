using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// <c>GET /.well-known/core</c> (RFC 6690 §4): the server's resources in CoRE Link Format, how clients discover them.
/// Query filtering (§4.1) is optional and not done: every request gets the whole list (of the other resources).
/// </summary>
internal sealed class WellKnownCoreResource(IReadOnlyList<CoapResource> resources) : CoapResource
{
    public override string Path => "/.well-known/core";

    public override string LinkAttributes => ";ct=40";

    public override uint? ContentFormat => CoapContentFormat.LinkFormat;

    public override bool Allows(CoapCode method) => method == CoapCode.Get;

    public override CoapResponse Handle(CoapRequest request) =>
        new(CoapCode.Content, System.Text.Encoding.UTF8.GetBytes(Links), CoapContentFormat.LinkFormat);

    /// <summary>One link per resource, <c>&lt;/hello&gt;;rt="…";ct=0</c>, separated by commas.</summary>
    public string Links => string.Join(',', resources.Select(r => $"<{r.Path}>{r.LinkAttributes}"));
}
