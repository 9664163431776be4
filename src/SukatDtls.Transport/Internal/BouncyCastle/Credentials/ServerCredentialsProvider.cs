namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// The server certificate credentials for new handshakes, replaceable while the server runs (certificate reload).
/// Each handshake reads <see cref="Current"/> once, when it starts, and keeps that for its whole length; a replacement
/// affects only handshakes that start after it.
/// </summary>
/// <param name="initial">The credentials at start, or null for a server without a certificate.</param>
/// <param name="rawPublicKey">
/// <see cref="DtlsTransportOptions.ServerRawPublicKey"/> as credentials (fixed: it is not reloaded), or null when
/// clients that ask for a raw public key get the certificate's key.
/// </param>
internal sealed class ServerCredentialsProvider(CertificateCredentials? initial, CertificateCredentials? rawPublicKey = null)
{
    private volatile CertificateCredentials? _current = initial;

    /// <summary>The credentials for a handshake that starts now; null for a server without a certificate.</summary>
    public CertificateCredentials? Current => _current;

    /// <summary>The configured raw public key (<see cref="DtlsTransportOptions.ServerRawPublicKey"/>), if any.</summary>
    public CertificateCredentials? RawPublicKey { get; } = rawPublicKey;

    /// <summary>How many times <see cref="Replace"/> was called (diagnostics and tests).</summary>
    public int Replacements => Volatile.Read(ref _replacements);

    private int _replacements;

    /// <summary>New handshakes use <paramref name="credentials"/> from now on (an atomic reference swap).</summary>
    public void Replace(CertificateCredentials credentials)
    {
        ArgumentNullException.ThrowIfNull(credentials);
        _current = credentials;
        Interlocked.Increment(ref _replacements);
    }
}
