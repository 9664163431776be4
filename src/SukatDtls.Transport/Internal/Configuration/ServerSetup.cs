using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls.Crypto;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// What the listeners of one <see cref="DtlsTransportFactory"/> share, made when the first one binds: the options with
/// their files resolved (certificate authorities loaded, the <see cref="DtlsTransportOptions.PskKeys"/> and
/// <see cref="DtlsTransportOptions.ClientRawPublicKeys"/> stores made),
/// the server credentials and, for a certificate from files, the reloader that watches them.
/// </summary>
internal sealed class ServerSetup : IDisposable
{
    private ServerSetup(DtlsTransportOptions options, ServerCredentialsProvider credentials, ServerCertificateReloader? reloader)
    {
        Options = options;
        Credentials = credentials;
        Reloader = reloader;
    }

    /// <summary>The listeners' copy of the options: file-based options replaced by what the files hold.</summary>
    public DtlsTransportOptions Options { get; }

    public ServerCredentialsProvider Credentials { get; }

    /// <summary>The certificate files' watcher; null unless the certificate came from <see cref="DtlsTransportOptions.CertificatePath"/>.</summary>
    public ServerCertificateReloader? Reloader { get; }

    /// <summary>Resolves validated options (<see cref="DtlsTransportOptions.Validate"/>).</summary>
    /// <exception cref="InvalidOperationException">A file changed since validation and cannot be loaded any more.</exception>
    public static ServerSetup Create(DtlsTransportOptions options, TlsCrypto crypto, TimeProvider timeProvider, ILoggerFactory loggerFactory)
    {
        var resolved = options.Clone();
        if (!string.IsNullOrWhiteSpace(options.ClientCertificateAuthoritiesPath))
        {
            resolved.ClientCertificateAuthorities = Load(options.ClientCertificateAuthoritiesPath,
                () => CertificateFiles.LoadPemBundle(CertificateFiles.Resolve(options.ClientCertificateAuthoritiesPath, options.ContentRootPath)));
        }

        if (options.PskKeys.Count > 0)
        {
            resolved.PskKeyStore = new ConfigurationPskKeyStore(options.PskKeys);
        }

        if (options.ClientRawPublicKeys.Count > 0)
        {
            resolved.ClientRawPublicKeyStore = ConfigurationRawPublicKeyStore.Create(options.ClientRawPublicKeys);
        }

        var rawPublicKey = options.ServerRawPublicKey is { } key ? CertificateCredentials.CreateRawPublicKey(crypto, key) : null;
        if (ServerCertificateSource.FromOptions(options) is { } source)
        {
            var loaded = Load(options.CertificatePath!, () => source.Load(crypto));
            var provider = new ServerCredentialsProvider(loaded.Credentials, rawPublicKey);
            var logger = loggerFactory.CreateLogger(DtlsCertificateLog.Category);
            var reloader = new ServerCertificateReloader(source, loaded, crypto, provider, timeProvider, logger);
            DtlsCertificateLog.CertificateLoaded(logger, loaded.Subject, loaded.Thumbprint, loaded.NotAfter, source.CertificatePath);
            return new ServerSetup(resolved, provider, reloader);
        }

        var credentials = options.ServerCertificate is { } certificate
            ? CertificateCredentials.Create(crypto, certificate, options.ServerCertificateChain)
            : null;
        return new ServerSetup(resolved, new ServerCredentialsProvider(credentials, rawPublicKey), reloader: null);
    }

    private static T Load<T>(string path, Func<T> load)
    {
        try
        {
            return load();
        }
        catch (Exception ex) when (ex is System.Security.Cryptography.CryptographicException or IOException or UnauthorizedAccessException or ArgumentException)
        {
            throw new InvalidOperationException($"'{path}' cannot be loaded: {ex.Message}", ex);
        }
    }

    public void Dispose() => Reloader?.Dispose();
}
