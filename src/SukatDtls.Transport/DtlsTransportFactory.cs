using System.Buffers;
using System.Diagnostics.Metrics;
using System.Net;
using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport;

/// <summary>
/// The Kestrel transport for <see cref="DtlsEndPoint"/>s: binds one DTLS listener per endpoint. Registered by
/// <see cref="Microsoft.AspNetCore.Hosting.WebHostBuilderDtlsExtensions.UseDtls(Microsoft.AspNetCore.Hosting.IWebHostBuilder, Action{DtlsTransportOptions}?)"/>;
/// other endpoint types are left to Kestrel's other transports.
/// </summary>
public sealed class DtlsTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector, IDisposable
{
    private readonly DtlsTransportOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _timeProvider;
    private readonly MemoryPool<byte> _memoryPool;
    private readonly BcTlsCrypto _crypto = new DtlsServerCrypto(new SecureRandom());
    private readonly Lock _listenersLock = new();
    private readonly List<DtlsConnectionListener> _listeners = [];
    private readonly DtlsMetrics? _metrics;
    private readonly IDtlsSessionCache? _sessionCache;
    private ServerSetup? _setup;
    private bool _disposed;

    /// <summary>Creates the factory; normally done by dependency injection.</summary>
    /// <param name="options">The transport options.</param>
    /// <param name="loggerFactory">Where the transport logs.</param>
    /// <param name="timeProvider">The clock of the transport's timers (idle timeout, cookie key rotation, session lifetime).</param>
    /// <param name="meterFactory">Creates the <c>SukatDtls.Transport</c> meter; without it the transport records no metrics.</param>
    /// <param name="sessionCache">
    /// A session cache registered as a service (e.g. by <c>AddDtlsDistributedSessionCache</c>), used when
    /// <see cref="DtlsTransportOptions.SessionCache"/> is not set; without either, each listener keeps sessions in memory.
    /// </param>
    public DtlsTransportFactory(IOptions<DtlsTransportOptions> options, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null, IDtlsSessionCache? sessionCache = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options.Value;
        _loggerFactory = loggerFactory;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _memoryPool = MemoryPool<byte>.Shared;
        _metrics = meterFactory is null ? null : new DtlsMetrics(meterFactory);
        _sessionCache = sessionCache;
    }

    /// <summary>True for <see cref="DtlsEndPoint"/> only.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is DtlsEndPoint;

    /// <summary>Binds a DTLS listener to <paramref name="endpoint"/>, which must be a <see cref="DtlsEndPoint"/>.</summary>
    /// <exception cref="NotSupportedException">The endpoint is not a <see cref="DtlsEndPoint"/>.</exception>
    /// <exception cref="InvalidOperationException">The options are invalid (e.g. no server certificate, or a certificate file that cannot be loaded).</exception>
    /// <exception cref="ObjectDisposedException">The factory was disposed.</exception>
    /// <exception cref="AddressInUseException">The UDP address is in use.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not DtlsEndPoint dtlsEndPoint)
        {
            throw new NotSupportedException($"The DTLS transport binds {nameof(DtlsEndPoint)}s only, not {endpoint.GetType().Name} '{endpoint}'.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        var setup = GetOrCreateSetup();
        var listener = new DtlsConnectionListener(dtlsEndPoint, setup.Options, setup.Credentials, _crypto, _memoryPool, _timeProvider, _loggerFactory, _metrics,
            _sessionCache);
        listener.Bind();
        lock (_listenersLock)
        {
            _listeners.RemoveAll(static l => l.IsDisposed);
            _listeners.Add(listener);
        }

        return ValueTask.FromResult<IConnectionListener>(listener);
    }

    /// <summary>
    /// Validates the options and resolves them once, at the first bind: every listener of this factory shares the
    /// server credentials (and the watcher of the certificate's files, when it came from <see cref="DtlsTransportOptions.CertificatePath"/>).
    /// </summary>
    private ServerSetup GetOrCreateSetup()
    {
        lock (_listenersLock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (_setup is null)
            {
                _options.Validate();
                _setup = ServerSetup.Create(_options, _crypto, _timeProvider, _loggerFactory);
            }

            return _setup;
        }
    }

    /// <summary>The shared server set-up, once a listener was bound (tests: the credentials and the certificate reloader).</summary>
    internal ServerSetup? Setup
    {
        get
        {
            lock (_listenersLock)
            {
                return _setup;
            }
        }
    }

    /// <summary>
    /// Stops watching the server certificate's files (done by dependency injection when the host is disposed). Bound
    /// listeners are Kestrel's to unbind; they keep the credentials they have.
    /// </summary>
    public void Dispose()
    {
        ServerSetup? setup;
        lock (_listenersLock)
        {
            _disposed = true;
            setup = _setup;
        }

        setup?.Dispose();
    }

    /// <summary>The listeners bound so far (diagnostics and tests).</summary>
    internal IReadOnlyList<DtlsConnectionListener> Listeners
    {
        get
        {
            lock (_listenersLock)
            {
                return _listeners.ToArray();
            }
        }
    }
}
