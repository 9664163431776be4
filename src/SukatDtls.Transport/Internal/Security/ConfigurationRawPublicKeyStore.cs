using System.Collections.Frozen;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The <see cref="IDtlsRawPublicKeyStore"/> of <see cref="DtlsTransportOptions.ClientRawPublicKeys"/>: a fixed set of
/// SHA-256 fingerprints of SubjectPublicKeyInfo, made once at start from entries that
/// <see cref="DtlsTransportOptionsRules"/> checked (<see cref="RawPublicKeyEntry"/>).
/// </summary>
internal sealed class ConfigurationRawPublicKeyStore : IDtlsRawPublicKeyStore
{
    private readonly FrozenSet<string> _fingerprints;

    private ConfigurationRawPublicKeyStore(FrozenSet<string> fingerprints) => _fingerprints = fingerprints;

    public int Count => _fingerprints.Count;

    /// <exception cref="InvalidOperationException">An entry is neither a SHA-256 in hex nor a PEM public key.</exception>
    public static ConfigurationRawPublicKeyStore Create(IEnumerable<string> entries)
    {
        var fingerprints = new HashSet<string>(StringComparer.Ordinal);
        int index = 0;
        foreach (string entry in entries)
        {
            fingerprints.Add(RawPublicKeyEntry.TryParse(entry, out byte[]? sha256, out string? problem)
                ? Convert.ToHexString(sha256)
                : throw new InvalidOperationException($"Client raw public key entry {index}: {problem}"));
            index++;
        }

        return new ConfigurationRawPublicKeyStore(fingerprints.ToFrozenSet(StringComparer.Ordinal));
    }

    public ValueTask<bool> IsAllowedAsync(ReadOnlyMemory<byte> subjectPublicKeyInfo, CancellationToken cancellationToken) =>
        ValueTask.FromResult(_fingerprints.Contains(Convert.ToHexString(SHA256.HashData(subjectPublicKeyInfo.Span))));
}
