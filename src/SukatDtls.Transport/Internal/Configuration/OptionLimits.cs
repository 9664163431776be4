namespace SukatDtls.Transport.Internal;

/// <summary>
/// The range rules that the server's and the client's options share, in one place: each returns null when the value
/// is valid, else the end of a sentence that starts with the option's name ("… must be positive; it is 0.").
/// </summary>
internal static class OptionLimits
{
    public static readonly TimeSpan MinRetransmissionTimeout = TimeSpan.FromMilliseconds(100);
    public static readonly TimeSpan MaxRetransmissionTimeout = TimeSpan.FromSeconds(60);

    /// <summary>A timeout BouncyCastle takes in milliseconds (an int); <paramref name="infiniteAllowed"/> for the idle timeouts.</summary>
    public static string? Timeout(TimeSpan value, bool infiniteAllowed = false)
    {
        if (infiniteAllowed && value == System.Threading.Timeout.InfiniteTimeSpan)
        {
            return null;
        }

        string alternative = infiniteAllowed ? $" or infinite ({System.Threading.Timeout.InfiniteTimeSpan})" : "";
        return value <= TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue
            ? $"must be positive and at most {int.MaxValue} ms{alternative}; it is {value}."
            : null;
    }

    public static string? Positive(int value) => value <= 0 ? $"must be positive; it is {value}." : null;

    public static string? NotNegative(int value) => value < 0 ? $"must not be negative; it is {value}." : null;

    /// <summary>The first wait before a handshake flight is resent (RFC 6347 §4.2.4.1 recommends 1 s; BouncyCastle caps backoff at 60 s).</summary>
    public static string? RetransmissionTimeout(TimeSpan value) =>
        value < MinRetransmissionTimeout || value > MaxRetransmissionTimeout
            ? $"must be from 100 ms to 60 s; it is {value}."
            : null;

    /// <summary>0 (off), or 4 to 16 bytes: enough that IDs are unguessable, short enough to route by a fixed-size key.</summary>
    public static string? ConnectionIdLength(int value) =>
        value is 0 or (>= 4 and <= 16) ? null : $"must be 0 (no Connection IDs) or from 4 to 16 bytes; it is {value}.";

    /// <summary>A secret given as hex text, at least <paramref name="minimumBytes"/> long; the message never shows the value.</summary>
    public static string? HexSecret(string? value, int minimumBytes)
    {
        if (!DtlsTransportOptionsRules.TryParseHexKey(value, out byte[]? bytes))
        {
            return $"is not a hexadecimal secret (an even number of digits 0-9, a-f; e.g. from 'openssl rand -hex 32'); the value is not shown.";
        }

        int length = bytes.Length;
        System.Security.Cryptography.CryptographicOperations.ZeroMemory(bytes);
        return length < minimumBytes
            ? $"has {length} bytes; it needs at least {minimumBytes} ({minimumBytes * 8} bits)."
            : null;
    }

    /// <summary>Adds "<paramref name="name"/> <paramref name="problem"/>" to <paramref name="failures"/> when there is a problem.</summary>
    public static void Report(string? problem, string name, List<string> failures)
    {
        if (problem is not null)
        {
            failures.Add($"{name} {problem}");
        }
    }
}
