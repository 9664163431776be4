using System.Diagnostics;
using System.Text;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// Pre-shared keys on the server: the PSK suites (when <see cref="DtlsTransportOptions.PskKeyStore"/> is set), the
/// identity hint, and the key look-up in the application's <see cref="IDtlsPskKeyStore"/>.
/// </summary>
/// <remarks>
/// BouncyCastle asks for the key synchronously, on the handshake thread. That is a dedicated thread of the handshake
/// pool, so waiting there for the store's <see cref="ValueTask{TResult}"/> blocks no thread-pool thread; the wait is
/// bounded by what is left of the handshake timeout, and cancelled when the connection is abandoned.
/// </remarks>
internal sealed partial class DtlsServerPeer
{
    private readonly long _peerCreatedTimestamp = Stopwatch.GetTimestamp();

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
        var remaining = _settings.Options.HandshakeTimeout - Stopwatch.GetElapsedTime(_peerCreatedTimestamp);
        if (remaining <= TimeSpan.Zero)
        {
            DtlsSecurityLog.PskKeyStoreTimedOut(logger, _events.ConnectionId, _events.RemoteEndPoint, described, 0);
            throw new TlsFatalAlert(AlertDescription.internal_error, "no time left in the handshake to look up the pre-shared key");
        }

        byte[]? key;
        using (var cancellation = CancellationTokenSource.CreateLinkedTokenSource(_events.ConnectionClosed))
        {
            cancellation.CancelAfter(remaining);
            Task<byte[]?> lookup;
            try
            {
                lookup = store.GetKeyAsync(identity, cancellation.Token).AsTask();
            }
            catch (Exception ex)
            {
                throw StoreFailed(described, ex);
            }

            bool finished;
            try
            {
                finished = lookup.Wait(remaining);
            }
            catch (AggregateException)
            {
                finished = true; // faulted or cancelled: told apart below
            }

            if (!finished || (lookup.IsCanceled && cancellation.IsCancellationRequested))
            {
                // The wait may end a moment before CancelAfter fires, and disposing the source would then stop it:
                // tell the store now that nobody waits any longer.
                CancelQuietly(cancellation);

                if (_events.ConnectionClosed.IsCancellationRequested)
                {
                    // The connection was abandoned (listener unbound, shutdown): not the store's fault.
                    throw new TlsFatalAlert(AlertDescription.internal_error, "the connection ended while the pre-shared key was looked up");
                }

                // A store that ignores its token is left running, unobserved; the handshake does not wait longer.
                DtlsSecurityLog.PskKeyStoreTimedOut(logger, _events.ConnectionId, _events.RemoteEndPoint, described, remaining.TotalMilliseconds);
                throw new TlsFatalAlert(AlertDescription.internal_error, "the PSK key store did not answer within the handshake timeout");
            }

            if (!lookup.IsCompletedSuccessfully)
            {
                throw StoreFailed(described, lookup.Exception?.InnerException ?? new OperationCanceledException("The PSK key store cancelled the look-up."));
            }

            key = lookup.Result;
        }

        if (key is not { Length: > 0 })
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

    private static void CancelQuietly(CancellationTokenSource cancellation)
    {
        try
        {
            cancellation.Cancel();
        }
        catch (AggregateException)
        {
            // A callback the store registered threw; the handshake fails anyway.
        }
    }

    private TlsFatalAlert StoreFailed(string identity, Exception exception)
    {
        DtlsSecurityLog.PskKeyStoreFailed(_settings.SecurityLogger, _events.ConnectionId, _events.RemoteEndPoint, identity, exception);
        return new TlsFatalAlert(AlertDescription.internal_error, "the PSK key store failed: " + exception.Message, exception);
    }

    /// <summary>BouncyCastle's view of <see cref="IDtlsPskKeyStore"/> for one handshake.</summary>
    private sealed class KeyStoreIdentityManager(DtlsServerPeer peer, IDtlsPskKeyStore store) : TlsPskIdentityManager
    {
        public byte[]? GetHint() =>
            peer._settings.Options.PskIdentityHint is { Length: > 0 } hint ? Encoding.UTF8.GetBytes(hint) : null;

        public byte[] GetPsk(byte[] identity) => peer._events.OffCpu(() => peer.LookUpPsk(store, identity));
    }
}
