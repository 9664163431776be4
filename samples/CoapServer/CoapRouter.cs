using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// The request/response layer (RFC 7252 §5): finds the resource of a request and checks what the request asks of it —
/// the method (4.05), the Accept option (4.06), a proxy (5.05) — before the resource answers. The messaging layer has
/// already turned away requests with critical options nobody understands.
/// </summary>
internal sealed class CoapRouter
{
    private readonly Dictionary<string, CoapResource> _resources;

    public CoapRouter(IEnumerable<CoapResource> resources) =>
        _resources = resources.ToDictionary(resource => resource.Path, StringComparer.Ordinal);

    /// <summary>The resources a server of this sample has: /.well-known/core listing /hello, /time, /echo and /whoami.</summary>
    public static CoapRouter Sample(TimeProvider timeProvider)
    {
        CoapResource[] content = [new HelloResource(), new TimeResource(timeProvider), new EchoResource(), new WhoAmIResource()];
        return new CoapRouter([new WellKnownCoreResource(content), .. content]);
    }

    public CoapResponse Handle(CoapRequest request, CoapMessage message)
    {
        if (message.First(CoapOptionNumber.ProxyUri) is not null || message.First(CoapOptionNumber.ProxyScheme) is not null)
        {
            return CoapResponse.Error(CoapCode.ProxyingNotSupported, "this server is no proxy");
        }

        if (!_resources.TryGetValue(request.Path, out var resource))
        {
            return CoapResponse.Error(CoapCode.NotFound, $"no resource at {request.Path}; GET /.well-known/core lists them");
        }

        if (!resource.Allows(request.Method))
        {
            // RFC 7252 §5.8: unknown and unsupported methods alike.
            return CoapResponse.Error(CoapCode.MethodNotAllowed, $"{request.Path} does not take {request.Method}");
        }

        if (message.First(CoapOptionNumber.Accept) is { } accept
            && accept.AsUInt() != (resource.ContentFormat ?? request.ContentFormat ?? CoapContentFormat.OctetStream))
        {
            return CoapResponse.Error(CoapCode.NotAcceptable, $"{request.Path} does not answer in Content-Format {accept.AsUInt()}");
        }

        return resource.Handle(request);
    }
}
