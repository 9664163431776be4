namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>Content-Format numbers (RFC 7252 §12.3, RFC 6690 §7.2) this server produces.</summary>
internal static class CoapContentFormat
{
    /// <summary>text/plain; charset=utf-8.</summary>
    public const uint TextPlain = 0;

    /// <summary>application/link-format (RFC 6690): what /.well-known/core answers.</summary>
    public const uint LinkFormat = 40;

    /// <summary>application/octet-stream.</summary>
    public const uint OctetStream = 42;
}
