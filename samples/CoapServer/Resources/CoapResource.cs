using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>One resource of the server: where it is, how /.well-known/core describes it, what it answers.</summary>
internal abstract class CoapResource
{
    /// <summary>The path, e.g. <c>/hello</c>.</summary>
    public abstract string Path { get; }

    /// <summary>Its RFC 6690 link attributes after the target, e.g. <c>;rt="example.hello";ct=0</c>.</summary>
    public abstract string LinkAttributes { get; }

    /// <summary>The Content-Format of its responses, for the Accept option; null when it answers in the request's own.</summary>
    public virtual uint? ContentFormat => CoapContentFormat.TextPlain;

    /// <summary>Whether it answers <paramref name="method"/> (others get 4.05 Method Not Allowed).</summary>
    public abstract bool Allows(CoapCode method);

    public abstract CoapResponse Handle(CoapRequest request);
}
