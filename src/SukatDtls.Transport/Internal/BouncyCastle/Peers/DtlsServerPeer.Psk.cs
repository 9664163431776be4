using System.Text;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Pre-shared keys on the server: the PSK suites (when <see cref="DtlsTransportOptions.PskKeyStore"/> is set), the
/// identity hint, and the key look-up in the application's <see cref="IDtlsPskKeyStore"/>.
/// </summary>
/// <remarks>
/// BouncyCastle asks for the key synchronously, on the handshake thread; <see cref="StoreLookup"/> waits there for the
/// store, bounded by what is left of the handshake timeout and cancelled when the connection is abandoned.
/// </remarks>
internal sealed partial class DtlsServerPeer
{
    /// <summary>The identity the client named (for log messages), once it did.</summary>
    private string? _pskIdentity;

    /// <summary>The PSK suites this server offers: all of them with a key store, none without.</summary>
    private int[] PskCipherSuitesOffered => _settings.Options.PskKeyStore is null ? [] : PskCipherSuites.All;

    public override TlsPskIdentityManager? GetPskIdentityManager() =>
        _settings.Options.PskKeyStore is { } store ? new KeyStoreIdentityManager(this, store) : null;

    /// <summary>
    /// A PSK key exchange uses no server certificate (RSA_PSK, which would, is not offered); every other key exchange
    /// signs with the certificate, as <see cref="DefaultTlsServer"/> decides.
    /// </summary>
    public override TlsCredentials? GetCredentials() =>
        PskCipherSuites.IsPskKeyExchange(m_context.SecurityParameters.KeyExchangeAlgorithm) ? null : base.GetCredentials();

    /// <summary>Logs why a PSK handshake failed when the client's key was wrong (called for every alert we raise).</summary>
    private void OnPskAlertRaised(short alertLevel, short alertDescription)
    {
        // decrypt_error after the identity was found: DtlsServerCrypto saw the client's Finished fail, or BouncyCastle
        // found its verify_data wrong; either way the two sides do not share the key.
        if (alertLevel == AlertLevel.fatal && alertDescription == AlertDescription.decrypt_error && _pskIdentity is { } identity)
        {
            DtlsSecurityLog.PskKeyMismatch(_settings.SecurityLogger, _events.ConnectionId, _events.RemoteEndPoint, identity,
                AlertDescription.GetText(alertDescription));
        }
    }

    private byte[] LookUpPsk(IDtlsPskKeyStore store, byte[] identity)
    {
        var logger = _settings.SecurityLogger;
        string described = PskCipherSuites.Describe(identity);
        var remaining = RemainingHandshakeTime;
        var answer = StoreLookup.Wait(token => store.GetKeyAsync(identity, token), remaining, _events.ConnectionClosed);
        switch (answer.Kind)
        {
            case StoreAnswerKind.Abandoned:
                // The connection was abandoned (listener unbound, shutdown): not the store's fault.
                throw new TlsFatalAlert(AlertDescription.internal_error, "the connection ended while the pre-shared key was looked up");
            case StoreAnswerKind.TimedOut:
                DtlsSecurityLog.PskKeyStoreTimedOut(logger, _events.ConnectionId, _events.RemoteEndPoint, described, Math.Max(0, remaining.TotalMilliseconds));
                throw new TlsFatalAlert(AlertDescription.internal_error, "the PSK key store did not answer within the handshake timeout");
            case StoreAnswerKind.Failed:
                DtlsSecurityLog.PskKeyStoreFailed(logger, _events.ConnectionId, _events.RemoteEndPoint, described, answer.Error!);
                throw new TlsFatalAlert(AlertDescription.internal_error, "the PSK key store failed: " + answer.Error!.Message, answer.Error);
        }

        if (answer.Value is not { Length: > 0 } key)
        {
            // RFC 4279 §2 lets a server hide unknown identities behind decrypt_error; naming the problem helps the
            // device's operator more, and the identity is no secret (it travels in clear text).
            DtlsSecurityLog.PskIdentityUnknown(logger, _events.ConnectionId, _events.RemoteEndPoint, described);
            throw new TlsFatalAlert(AlertDescription.unknown_psk_identity, $"unknown PSK identity {described}");
        }

        _pskIdentity = described;
        DtlsSecurityLog.PskIdentityFound(logger, _events.ConnectionId, _events.RemoteEndPoint, described);

        // A copy: BouncyCastle zeroes the array once the premaster secret is made, and the store may cache its own.
        return (byte[])key.Clone();
    }

    /// <summary>BouncyCastle's view of <see cref="IDtlsPskKeyStore"/> for one handshake.</summary>
    private sealed class KeyStoreIdentityManager(DtlsServerPeer peer, IDtlsPskKeyStore store) : TlsPskIdentityManager
    {
        public byte[]? GetHint() =>
            peer._settings.Options.PskIdentityHint is { Length: > 0 } hint ? Encoding.UTF8.GetBytes(hint) : null;

        public byte[] GetPsk(byte[] identity) => peer._events.OffCpu(() => peer.LookUpPsk(store, identity));
    }
}
