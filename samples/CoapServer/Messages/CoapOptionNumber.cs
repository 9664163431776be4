namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>
/// Option numbers (RFC 7252 §5.10, §12.2) this server knows by name, and what the number itself says: an odd number is
/// critical (a recipient that does not understand it must not ignore it), an even one elective (RFC 7252 §5.4.6).
/// </summary>
internal static class CoapOptionNumber
{
    public const int IfMatch = 1;
    public const int UriHost = 3;
    public const int ETag = 4;
    public const int IfNoneMatch = 5;
    public const int Observe = 6;
    public const int UriPort = 7;
    public const int LocationPath = 8;
    public const int UriPath = 11;
    public const int ContentFormat = 12;
    public const int MaxAge = 14;
    public const int UriQuery = 15;
    public const int Accept = 17;
    public const int LocationQuery = 20;
    public const int Block2 = 23;
    public const int Block1 = 27;
    public const int Size2 = 28;
    public const int ProxyUri = 35;
    public const int ProxyScheme = 39;
    public const int Size1 = 60;

    /// <summary>The largest option number the format carries (RFC 7252 §12.2: 0-65535).</summary>
    public const int Max = 65535;

    public static bool IsCritical(int number) => (number & 1) != 0;
}
