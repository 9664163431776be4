using System.Buffers;
using System.Reflection;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Configuration;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The rules of <see cref="DtlsTransportOptions"/>, in one place: <see cref="DtlsTransportOptions.Validate"/> (when a
/// listener binds) and <see cref="DtlsTransportOptionsValidator"/> (at host start, for options bound from
/// configuration) both report what <see cref="Check"/> finds.
/// </summary>
/// <remarks>
/// Each failure names what to fix: the configuration key (<c>Dtls:HandshakeTimeout</c>) when the value came from a
/// bound configuration section, else the property (<c>DtlsTransportOptions.HandshakeTimeout</c>). Certificate files are
/// loaded to check them, so a missing, unreadable or malformed file fails at start, not at the first handshake.
/// </remarks>
internal static class DtlsTransportOptionsRules
{
    /// <summary>The least key length of <see cref="DtlsTransportOptions.PskKeys"/>: 128 bits, as RFC 9257 recommends for external PSKs.</summary>
    public const int MinimumPskKeyLength = 16;

    /// <summary>The least length of the other secrets given as hex (<see cref="DtlsTransportOptions.CookieSecret"/>, the session store's key): 128 bits.</summary>
    public const int MinimumSecretLength = 16;

    private const string OptionsName = nameof(DtlsTransportOptions);

    private static readonly Lazy<BcTlsCrypto> s_crypto = new(() => new BcTlsCrypto(new SecureRandom()));

    /// <summary>
    /// The properties that configuration can set (scalars, enums, file paths, <see cref="DtlsTransportOptions.PskKeys"/>,
    /// <see cref="DtlsTransportOptions.ClientRawPublicKeys"/>).
    /// </summary>
    private static readonly Dictionary<string, PropertyInfo> s_bindable = OptionsBinder.BindableProperties<DtlsTransportOptions>();

    /// <summary>Properties that only code can set, with what to use in configuration instead (given the section's key prefix).</summary>
    private static readonly Dictionary<string, Func<string, string>> s_codeOnly = new(StringComparer.OrdinalIgnoreCase)
    {
        [nameof(DtlsTransportOptions.ServerCertificate)] = p => $"use {p}{nameof(DtlsTransportOptions.CertificatePath)} (and {p}{nameof(DtlsTransportOptions.KeyPath)})",
        [nameof(DtlsTransportOptions.ServerCertificateChain)] = p => $"put the intermediates after the certificate in the {p}{nameof(DtlsTransportOptions.CertificatePath)} PEM file",
        [nameof(DtlsTransportOptions.ClientCertificateAuthorities)] = p => $"use {p}{nameof(DtlsTransportOptions.ClientCertificateAuthoritiesPath)}",
        [nameof(DtlsTransportOptions.PskKeyStore)] = p => $"use {p}{nameof(DtlsTransportOptions.PskKeys)}",
        [nameof(DtlsTransportOptions.ClientCertificateValidation)] = _ => "it is a callback: set it in code",
        [nameof(DtlsTransportOptions.SessionCache)] = _ => "it is an object: set it in code",
        [nameof(DtlsTransportOptions.ServerRawPublicKey)] = _ => "it is a key: set it in code, or let the certificate's key serve clients that ask for a raw public key",
        [nameof(DtlsTransportOptions.ClientRawPublicKeyStore)] = p => $"use {p}{nameof(DtlsTransportOptions.ClientRawPublicKeys)}",
    };

    /// <summary>The configuration keys a DTLS section may have, for messages and documentation.</summary>
    public static IEnumerable<string> ConfigurationKeys => s_bindable.Keys.Order(StringComparer.Ordinal);

    /// <summary>Everything wrong with <paramref name="options"/>; empty when they are good.</summary>
    public static List<string> Check(DtlsTransportOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var names = new OptionNames(options.ConfigurationSections);
        var failures = new List<string>();
        CheckKeys(options.ConfigurationSections, failures);
        CheckServerCertificate(options, names, failures);
        CheckClientCertificates(options, names, failures);
        CheckPskKeys(options, names, failures);
        CheckRawPublicKeys(options, names, failures);
        CheckLimits(options, names, failures);
        return failures;
    }

    /// <summary>Keys that match no option (a typo would otherwise be ignored silently, e.g. a client certificate mode).</summary>
    private static void CheckKeys(List<IConfiguration> sections, List<string> failures)
    {
        foreach (var section in sections)
        {
            if (section is not IConfigurationSection { Path.Length: > 0 })
            {
                continue; // A configuration root holds other things too.
            }

            foreach (var child in section.GetChildren())
            {
                string key = OptionNames.KeyOf(section, child.Key);
                if (s_codeOnly.TryGetValue(child.Key, out var instead))
                {
                    failures.Add($"{key} cannot be set from configuration: {instead(OptionNames.KeyOf(section, ""))}.");
                }
                else if (!s_bindable.ContainsKey(child.Key))
                {
                    failures.Add($"{key} is not a DTLS transport option (misspelt?); the keys are {string.Join(", ", ConfigurationKeys)}.");
                }
            }
        }
    }

    private static void CheckServerCertificate(DtlsTransportOptions options, OptionNames names, List<string> failures)
    {
        bool hasPath = !string.IsNullOrWhiteSpace(options.CertificatePath);
        bool hasCertificate = options.ServerCertificate is not null;
        bool hasPsk = options.PskKeyStore is not null || options.PskKeys.Count > 0;
        bool hasRawPublicKey = options.ServerRawPublicKey is not null;
        if (!hasPath)
        {
            if (!string.IsNullOrWhiteSpace(options.KeyPath))
            {
                failures.Add($"{names.Of(nameof(DtlsTransportOptions.KeyPath))} is set, but {names.Key(nameof(DtlsTransportOptions.CertificatePath))} is not.");
            }

            if (!string.IsNullOrEmpty(options.CertificatePassword))
            {
                failures.Add($"{names.Of(nameof(DtlsTransportOptions.CertificatePassword))} is set, but {names.Key(nameof(DtlsTransportOptions.CertificatePath))} is not.");
            }
        }

        if (hasPath && hasCertificate)
        {
            failures.Add($"{names.Of(nameof(DtlsTransportOptions.CertificatePath))} and {OptionsName}.{nameof(DtlsTransportOptions.ServerCertificate)} are both set; set one of them.");
        }
        else if (!hasPath && !hasCertificate && !hasPsk && !hasRawPublicKey && string.IsNullOrWhiteSpace(options.KeyPath))
        {
            failures.Add(names.IsBound
                ? $"No server certificate: set {names.Key(nameof(DtlsTransportOptions.CertificatePath))} (a PEM certificate, with {names.Key(nameof(DtlsTransportOptions.KeyPath))} unless its key is in the same file; or a PKCS#12 file, with {names.Key(nameof(DtlsTransportOptions.CertificatePassword))}) or {OptionsName}.{nameof(DtlsTransportOptions.ServerCertificate)} in code; a PSK-only server needs {names.Key(nameof(DtlsTransportOptions.PskKeys))} or {OptionsName}.{nameof(DtlsTransportOptions.PskKeyStore)} instead."
                : $"{OptionsName}.{nameof(DtlsTransportOptions.ServerCertificate)} is not set: a DTLS server needs a certificate with a private key ({nameof(DtlsTransportOptions.ServerCertificate)}, or {nameof(DtlsTransportOptions.CertificatePath)} and {nameof(DtlsTransportOptions.KeyPath)}), or a {nameof(DtlsTransportOptions.PskKeyStore)} or {nameof(DtlsTransportOptions.PskKeys)} for PSK only, or a {nameof(DtlsTransportOptions.ServerRawPublicKey)} for raw public keys only.");
        }
        else if (hasCertificate)
        {
            CheckCertificate(options.ServerCertificate!, options.ServerCertificateChain, $"{OptionsName}.{nameof(DtlsTransportOptions.ServerCertificate)}", failures);
        }
        else if (hasPath)
        {
            CheckCertificateFiles(options, names, failures);
        }
    }

    private static void CheckCertificate(X509Certificate2 certificate, X509Certificate2Collection? chain, string name, List<string> failures)
    {
        if (!certificate.HasPrivateKey)
        {
            failures.Add($"{name} ('{certificate.Subject}') has no private key.");
            return;
        }

        try
        {
            LoadedServerCertificate.Create(s_crypto.Value, certificate, chain);
        }
        catch (Exception ex) when (ex is InvalidOperationException or System.Security.Cryptography.CryptographicException or ArgumentException or IOException)
        {
            failures.Add($"{name} cannot be used: {ex.Message}");
        }
    }

    private static void CheckCertificateFiles(DtlsTransportOptions options, OptionNames names, List<string> failures)
    {
        string certificateName = names.Of(nameof(DtlsTransportOptions.CertificatePath));
        if (!FileExists(options.CertificatePath!, options, certificateName, failures))
        {
            return;
        }

        string? keyName = null;
        if (!string.IsNullOrWhiteSpace(options.KeyPath))
        {
            keyName = names.Of(nameof(DtlsTransportOptions.KeyPath));
            if (!FileExists(options.KeyPath, options, keyName, failures))
            {
                return;
            }
        }

        var source = ServerCertificateSource.FromOptions(options)!;
        try
        {
            source.Load(s_crypto.Value);
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException
            or ArgumentException or InvalidOperationException)
        {
            string withKey = keyName is null ? "" : $" with {keyName} '{options.KeyPath}'";
            string password = ex is System.Security.Cryptography.CryptographicException && !string.IsNullOrEmpty(options.CertificatePassword)
                ? $" (is {names.Of(nameof(DtlsTransportOptions.CertificatePassword))} right?)"
                : "";
            failures.Add($"{certificateName} '{options.CertificatePath}'{withKey} cannot be loaded: {ex.Message}{password}");
        }
    }

    private static void CheckClientCertificates(DtlsTransportOptions options, OptionNames names, List<string> failures)
    {
        string modeName = names.Of(nameof(DtlsTransportOptions.ClientCertificateMode));
        if (!Enum.IsDefined(options.ClientCertificateMode))
        {
            failures.Add($"{modeName} is {options.ClientCertificateMode}, which is not one of {string.Join(", ", Enum.GetNames<ClientCertificateMode>())}.");
        }
        else if (options.ClientCertificateMode == ClientCertificateMode.DelayCertificate)
        {
            failures.Add($"{modeName} {nameof(ClientCertificateMode.DelayCertificate)} is not supported: DTLS 1.2 has no post-handshake authentication.");
        }
        else if (options.ClientCertificateMode != ClientCertificateMode.NoCertificate
            && options.ServerCertificate is null && string.IsNullOrWhiteSpace(options.CertificatePath) && options.ServerRawPublicKey is null
            && (options.PskKeyStore is not null || options.PskKeys.Count > 0))
        {
            failures.Add($"{modeName} is {options.ClientCertificateMode}, but there is no server certificate ({names.Key(nameof(DtlsTransportOptions.CertificatePath))} or {OptionsName}.{nameof(DtlsTransportOptions.ServerCertificate)}): client certificates are asked for in certificate handshakes only, and a PSK-only server has none (its clients are authenticated by their keys).");
        }

        if (!Enum.IsDefined(options.ClientCertificateRevocationMode))
        {
            failures.Add($"{names.Of(nameof(DtlsTransportOptions.ClientCertificateRevocationMode))} is {options.ClientCertificateRevocationMode}, which is not one of {string.Join(", ", Enum.GetNames<X509RevocationMode>())}.");
        }

        if (string.IsNullOrWhiteSpace(options.ClientCertificateAuthoritiesPath))
        {
            return;
        }

        string pathName = names.Of(nameof(DtlsTransportOptions.ClientCertificateAuthoritiesPath));
        if (options.ClientCertificateAuthorities is not null)
        {
            failures.Add($"{pathName} and {OptionsName}.{nameof(DtlsTransportOptions.ClientCertificateAuthorities)} are both set; set one of them.");
        }
        else if (FileExists(options.ClientCertificateAuthoritiesPath, options, pathName, failures))
        {
            try
            {
                foreach (var authority in CertificateFiles.LoadPemBundle(CertificateFiles.Resolve(options.ClientCertificateAuthoritiesPath, options.ContentRootPath)))
                {
                    authority.Dispose();
                }
            }
            catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
            {
                failures.Add($"{pathName} '{options.ClientCertificateAuthoritiesPath}' cannot be loaded: {ex.Message}");
            }
        }
    }

    private static void CheckPskKeys(DtlsTransportOptions options, OptionNames names, List<string> failures)
    {
        if (options.PskKeys.Count == 0)
        {
            return;
        }

        if (options.PskKeyStore is not null)
        {
            failures.Add($"{names.Of(nameof(DtlsTransportOptions.PskKeys))} and {OptionsName}.{nameof(DtlsTransportOptions.PskKeyStore)} are both set; set one of them.");
        }

        foreach (var (identity, key) in options.PskKeys)
        {
            // The message names the identity (not a secret) and never shows the key.
            string name = names.Entry(nameof(DtlsTransportOptions.PskKeys), identity);
            if (identity.Length == 0 || Encoding.UTF8.GetByteCount(identity) > ushort.MaxValue)
            {
                failures.Add($"{name}: a PSK identity has 1 to {ushort.MaxValue} bytes.");
            }
            else if (!TryParsePskKey(key, out byte[]? bytes))
            {
                failures.Add($"{name} is not a hexadecimal key (an even number of digits 0-9, a-f); the value is not shown.");
            }
            else if (bytes.Length < MinimumPskKeyLength)
            {
                failures.Add($"{name} has {bytes.Length} bytes; a pre-shared key needs at least {MinimumPskKeyLength} (128 bits, RFC 9257).");
            }
        }
    }

    private static void CheckRawPublicKeys(DtlsTransportOptions options, OptionNames names, List<string> failures)
    {
        if (options.ServerRawPublicKey is { } key)
        {
            OptionLimits.Report(RawPublicKeyChecks.Check(key), $"{OptionsName}.{nameof(DtlsTransportOptions.ServerRawPublicKey)}", failures);
        }

        bool hasStore = options.ClientRawPublicKeyStore is not null;
        bool hasList = options.ClientRawPublicKeys.Count > 0;
        if (hasStore && hasList)
        {
            failures.Add($"{names.Of(nameof(DtlsTransportOptions.ClientRawPublicKeys))} and {OptionsName}.{nameof(DtlsTransportOptions.ClientRawPublicKeyStore)} are both set; set one of them.");
        }

        for (int i = 0; i < options.ClientRawPublicKeys.Count; i++)
        {
            if (!RawPublicKeyEntry.TryParse(options.ClientRawPublicKeys[i], out _, out string? problem))
            {
                string name = names.Entry(nameof(DtlsTransportOptions.ClientRawPublicKeys), i.ToString(System.Globalization.CultureInfo.InvariantCulture));
                failures.Add($"{name}: {problem}");
            }
        }

        // A client proves its raw public key in a certificate handshake (ECDHE-ECDSA); a PSK-only server has none.
        bool hasServerKey = options.ServerCertificate is not null || !string.IsNullOrWhiteSpace(options.CertificatePath) || options.ServerRawPublicKey is not null;
        if ((hasStore || hasList) && !hasServerKey)
        {
            string what = hasList ? names.Of(nameof(DtlsTransportOptions.ClientRawPublicKeys)) : $"{OptionsName}.{nameof(DtlsTransportOptions.ClientRawPublicKeyStore)}";
            failures.Add($"{what} is set, but there is no server certificate ({names.Key(nameof(DtlsTransportOptions.CertificatePath))} or {OptionsName}.{nameof(DtlsTransportOptions.ServerCertificate)}) or {OptionsName}.{nameof(DtlsTransportOptions.ServerRawPublicKey)}: clients prove raw public keys in ECDHE-ECDSA handshakes, which a PSK-only server cannot make.");
        }
    }

    /// <summary>A key of <see cref="DtlsTransportOptions.PskKeys"/>: hex digits, white space around them ignored.</summary>
    public static bool TryParsePskKey(string? hex, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? key) =>
        TryParseHexKey(hex, out key);

    /// <summary>
    /// A secret given as text (a pre-shared key, <see cref="DtlsTransportOptions.CookieSecret"/>, the session store's
    /// encryption key): hex digits, white space around them ignored. Hex only, as <c>openssl rand -hex 32</c> writes it:
    /// accepting base64 too would be ambiguous, since a hex string is also valid base64.
    /// </summary>
    public static bool TryParseHexKey(string? hex, [System.Diagnostics.CodeAnalysis.NotNullWhen(true)] out byte[]? key)
    {
        key = null;
        var digits = (hex ?? "").AsSpan().Trim();
        if (digits.Length == 0 || digits.Length % 2 != 0)
        {
            return false;
        }

        var bytes = new byte[digits.Length / 2];
        if (Convert.FromHexString(digits, bytes, out _, out int written) != OperationStatus.Done || written != bytes.Length)
        {
            return false;
        }

        key = bytes;
        return true;
    }

    private static void CheckLimits(DtlsTransportOptions options, OptionNames names, List<string> failures)
    {
        void Report(string? problem, string property) => OptionLimits.Report(problem, names.Of(property), failures);

        Report(OptionLimits.Timeout(options.HandshakeTimeout), nameof(DtlsTransportOptions.HandshakeTimeout));
        Report(OptionLimits.Timeout(options.IdleTimeout, infiniteAllowed: true), nameof(DtlsTransportOptions.IdleTimeout));
        Report(OptionLimits.Timeout(options.CookieKeyRotationInterval), nameof(DtlsTransportOptions.CookieKeyRotationInterval));
        if (options.CookieSecret is not null)
        {
            Report(OptionLimits.HexSecret(options.CookieSecret, MinimumSecretLength), nameof(DtlsTransportOptions.CookieSecret));
        }

        Report(OptionLimits.Positive(options.MaxConcurrentHandshakes), nameof(DtlsTransportOptions.MaxConcurrentHandshakes));
        Report(OptionLimits.NotNegative(options.HandshakeQueueLength), nameof(DtlsTransportOptions.HandshakeQueueLength));
        Report(OptionLimits.Positive(options.AcceptQueueLength), nameof(DtlsTransportOptions.AcceptQueueLength));
        Report(OptionLimits.Positive(options.MaxCachedSessions), nameof(DtlsTransportOptions.MaxCachedSessions));
        Report(OptionLimits.Timeout(options.SessionLifetime), nameof(DtlsTransportOptions.SessionLifetime));
        if (options.MaxConnections is { } maxConnections)
        {
            Report(OptionLimits.Positive(maxConnections), nameof(DtlsTransportOptions.MaxConnections));
        }

        if (options.MaxHandshakesPerSecondPerAddress is { } perAddress)
        {
            Report(OptionLimits.Positive(perAddress), nameof(DtlsTransportOptions.MaxHandshakesPerSecondPerAddress));
        }

        Report(DatagramSizes.Check(options.MaxDatagramSize), nameof(DtlsTransportOptions.MaxDatagramSize));
        Report(OptionLimits.ConnectionIdLength(options.ConnectionIdLength), nameof(DtlsTransportOptions.ConnectionIdLength));
        Report(OptionLimits.RetransmissionTimeout(options.HandshakeRetransmissionTimeout), nameof(DtlsTransportOptions.HandshakeRetransmissionTimeout));
    }

    private static bool FileExists(string path, DtlsTransportOptions options, string name, List<string> failures)
    {
        string resolved = CertificateFiles.Resolve(path, options.ContentRootPath);
        if (File.Exists(resolved))
        {
            return true;
        }

        string where = string.Equals(resolved, path, StringComparison.Ordinal) ? "" : $" (looked for {resolved})";
        failures.Add($"{name} '{path}' does not exist{where}.");
        return false;
    }

    /// <summary>
    /// How a failure names an option: by its configuration key when a bound section holds it, else by property.
    /// </summary>
    private readonly struct OptionNames(List<IConfiguration> sections)
    {
        public bool IsBound => sections.Count > 0;

        /// <summary>"Dtls:HandshakeTimeout" when the section set it; else "DtlsTransportOptions.HandshakeTimeout".</summary>
        public string Of(string property)
        {
            for (int i = sections.Count - 1; i >= 0; i--)
            {
                if (sections[i].GetSection(property).Exists())
                {
                    return KeyOf(sections[i], property);
                }
            }

            return $"{OptionsName}.{property}";
        }

        /// <summary>The key to set: "Dtls:CertificatePath" when bound from configuration; else the property.</summary>
        public string Key(string property) => IsBound ? KeyOf(sections[^1], property) : $"{OptionsName}.{property}";

        /// <summary>One entry of a dictionary option: "Dtls:PskKeys:device-1", else "DtlsTransportOptions.PskKeys["device-1"]".</summary>
        public string Entry(string property, string entry)
        {
            for (int i = sections.Count - 1; i >= 0; i--)
            {
                if (sections[i].GetSection(property).GetSection(entry).Exists())
                {
                    return $"{KeyOf(sections[i], property)}:{entry}";
                }
            }

            return $"{OptionsName}.{property}[\"{entry}\"]";
        }

        public static string KeyOf(IConfiguration section, string key) =>
            section is IConfigurationSection { Path.Length: > 0 } named ? $"{named.Path}:{key}" : key;
    }
}
