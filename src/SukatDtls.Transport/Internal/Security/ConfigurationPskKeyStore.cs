using System.Collections.Frozen;
using System.Text;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The <see cref="IDtlsPskKeyStore"/> of <see cref="DtlsTransportOptions.PskKeys"/>: a fixed table, made once at start
/// from identities (UTF-8 text, matched exactly) and hex keys that <see cref="DtlsTransportOptionsRules"/> checked.
/// </summary>
internal sealed class ConfigurationPskKeyStore : IDtlsPskKeyStore
{
    private static readonly UTF8Encoding s_strictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

    private readonly FrozenDictionary<string, byte[]> _keys;

    public ConfigurationPskKeyStore(IEnumerable<KeyValuePair<string, string>> keys)
    {
        var parsed = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var (identity, hex) in keys)
        {
            parsed[identity] = DtlsTransportOptionsRules.TryParsePskKey(hex, out byte[]? key)
                ? key
                : throw new InvalidOperationException($"The pre-shared key of identity '{identity}' is not hexadecimal.");
        }

        _keys = parsed.ToFrozenDictionary(StringComparer.Ordinal);
    }

    public int Count => _keys.Count;

    public ValueTask<byte[]?> GetKeyAsync(ReadOnlyMemory<byte> identity, CancellationToken cancellationToken)
    {
        string text;
        try
        {
            text = s_strictUtf8.GetString(identity.Span);
        }
        catch (DecoderFallbackException)
        {
            return ValueTask.FromResult<byte[]?>(null); // Not UTF-8: no configured identity can match it.
        }

        // The transport copies the key for BouncyCastle, so the array handed out here is never changed.
        return ValueTask.FromResult(_keys.GetValueOrDefault(text));
    }
}
