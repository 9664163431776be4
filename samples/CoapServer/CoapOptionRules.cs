using SukatDtls.Samples.CoapServer.Messages;

namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// Which options of a request this server understands (RFC 7252 §5.4): a critical option it does not — unknown, or
/// with a value length outside its definition, or repeated where the option is not repeatable (§5.4.3, §5.4.5) — must
/// not be ignored; an elective one is.
/// </summary>
internal static class CoapOptionRules
{
    private readonly record struct Rule(bool Repeatable, int MinLength, int MaxLength);

    // RFC 7252 §5.10. Uri-Host and Uri-Port name this server (a virtual host would check them; we have one). The proxy
    // options are understood so that they get 5.05 Proxying Not Supported rather than 4.02.
    private static readonly Dictionary<int, Rule> s_understood = new()
    {
        [CoapOptionNumber.UriHost] = new(false, 1, 255),
        [CoapOptionNumber.UriPort] = new(false, 0, 2),
        [CoapOptionNumber.UriPath] = new(true, 0, 255),
        [CoapOptionNumber.ContentFormat] = new(false, 0, 2),
        [CoapOptionNumber.UriQuery] = new(true, 0, 255),
        [CoapOptionNumber.Accept] = new(false, 0, 2),
        [CoapOptionNumber.ProxyUri] = new(false, 1, 1034),
        [CoapOptionNumber.ProxyScheme] = new(false, 1, 255),
    };

    /// <summary>The first critical option of <paramref name="message"/> that this server does not understand, or null.</summary>
    public static int? FirstUnrecognizedCritical(CoapMessage message)
    {
        int previous = -1;
        foreach (var option in message.Options)
        {
            bool repeated = option.Number == previous;
            previous = option.Number;
            if (CoapOptionNumber.IsCritical(option.Number) && !IsUnderstood(option, repeated))
            {
                return option.Number;
            }
        }

        return null;
    }

    /// <summary>Whether <paramref name="option"/> is one this server reads (the first of its kind where only one may be).</summary>
    public static bool IsUnderstood(CoapOption option, bool repeated) =>
        s_understood.TryGetValue(option.Number, out var rule)
        && (rule.Repeatable || !repeated)
        && option.Value.Length >= rule.MinLength && option.Value.Length <= rule.MaxLength;
}
