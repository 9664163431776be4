using System.Diagnostics.CodeAnalysis;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One entry of <see cref="DtlsTransportOptions.ClientRawPublicKeys"/>: the SHA-256 of a SubjectPublicKeyInfo in hex
/// (what <c>openssl pkey -pubout -outform DER | sha256sum</c> prints; colons, spaces and case do not matter), or a PEM
/// <c>PUBLIC KEY</c>, which is hashed.
/// </summary>
internal static class RawPublicKeyEntry
{
    private const string PemLabel = "PUBLIC KEY";

    /// <summary>Reads an entry into the SHA-256 fingerprint it stands for.</summary>
    /// <returns>False, with what is wrong in <paramref name="problem"/>, when the entry is neither form.</returns>
    public static bool TryParse(string? entry, [NotNullWhen(true)] out byte[]? sha256, [NotNullWhen(false)] out string? problem)
    {
        sha256 = null;
        string text = (entry ?? "").Trim();
        if (text.Contains("-----BEGIN", StringComparison.Ordinal))
        {
            if (!PemEncoding.TryFind(text, out var fields) || !text.AsSpan()[fields.Label].SequenceEqual(PemLabel))
            {
                problem = $"a PEM entry must be a '-----BEGIN {PemLabel}-----' block (SubjectPublicKeyInfo; 'openssl pkey -in device.key -pubout' writes one).";
                return false;
            }

            byte[] der = Convert.FromBase64String(text[fields.Base64Data]);
            if (!IsSubjectPublicKeyInfo(der))
            {
                problem = "the PEM public key is not a readable SubjectPublicKeyInfo.";
                return false;
            }

            sha256 = SHA256.HashData(der);
            problem = null;
            return true;
        }

        string digits = string.Concat(text.Where(c => c is not (':' or ' ')));
        if (digits.Length != 2 * SHA256.HashSizeInBytes || !digits.All(char.IsAsciiHexDigit))
        {
            problem = $"'{entry}' is neither the SHA-256 of a SubjectPublicKeyInfo in hex ({2 * SHA256.HashSizeInBytes} digits) nor a PEM public key.";
            return false;
        }

        sha256 = Convert.FromHexString(digits);
        problem = null;
        return true;
    }

    private static bool IsSubjectPublicKeyInfo(byte[] der)
    {
        try
        {
            // Any algorithm BouncyCastle can read (EC, RSA, Ed25519): it verifies the client's signature with it.
            _ = Org.BouncyCastle.Asn1.X509.SubjectPublicKeyInfo.GetInstance(der);
            return true;
        }
        catch (Exception ex) when (ex is ArgumentException or InvalidOperationException or IOException)
        {
            return false;
        }
    }
}
