using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// The pre-shared key cipher suites (RFC 4279, RFC 5489, RFC 6655, RFC 7905), in our order of preference. Each of
/// them is supported by BouncyCastle for DTLS 1.2 and by OpenSSL 3.0 (<c>openssl ciphers -v PSK</c>), so
/// <c>openssl s_client -psk</c> and constrained devices (mbedTLS, tinydtls, Californium) interoperate.
/// </summary>
internal static class PskCipherSuites
{
    /// <summary>
    /// ECDHE-PSK first (forward secrecy: a key leaked later does not open recorded sessions), then plain PSK, which
    /// costs no public-key operation at all. OpenSSL has no ECDHE-PSK suite with GCM or CCM, so the ECDHE-PSK pair is
    /// ChaCha20-Poly1305 and AES-128-CBC-SHA256 (encrypt-then-MAC when the peer offers it; RFC 5489 and the LwM2M
    /// profile). TLS_PSK_WITH_AES_128_CCM_8 is CoAP's mandatory suite (RFC 7252 §9.1.3.1).
    /// </summary>
    public static int[] All { get; } =
    [
        CipherSuite.TLS_ECDHE_PSK_WITH_CHACHA20_POLY1305_SHA256,
        CipherSuite.TLS_ECDHE_PSK_WITH_AES_128_CBC_SHA256,
        CipherSuite.TLS_PSK_WITH_AES_128_GCM_SHA256,
        CipherSuite.TLS_PSK_WITH_AES_128_CCM,
        CipherSuite.TLS_PSK_WITH_AES_128_CCM_8,
    ];

    /// <summary>Whether a key exchange authenticates with a pre-shared key (and no certificate).</summary>
    public static bool IsPskKeyExchange(int keyExchangeAlgorithm) =>
        keyExchangeAlgorithm is KeyExchangeAlgorithm.PSK or KeyExchangeAlgorithm.ECDHE_PSK or KeyExchangeAlgorithm.DHE_PSK;

    /// <summary>An identity for log messages: the UTF-8 text when it is printable, else hex; at most 128 bytes.</summary>
    public static string Describe(ReadOnlySpan<byte> identity)
    {
        const int Limit = 128;
        var shown = identity.Length > Limit ? identity[..Limit] : identity;
        string suffix = identity.Length > Limit ? $"… ({identity.Length} bytes)" : "";
        try
        {
            string text = new System.Text.UTF8Encoding(false, throwOnInvalidBytes: true).GetString(shown);
            if (!text.Any(char.IsControl))
            {
                return $"'{text}'{suffix}";
            }
        }
        catch (System.Text.DecoderFallbackException)
        {
            // Not UTF-8: hex below.
        }

        return $"0x{Convert.ToHexString(shown)}{suffix}";
    }
}
