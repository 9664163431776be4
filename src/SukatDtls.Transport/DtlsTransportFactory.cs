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
public sealed class DtlsTransportFactory : IConnectionListenerFactory, IConnectionListenerFactorySelector
{
    private readonly DtlsTransportOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly TimeProvider _timeProvider;
    private readonly MemoryPool<byte> _memoryPool;
    private readonly BcTlsCrypto _crypto = new DtlsServerCrypto(new SecureRandom());
    private readonly Lock _listenersLock = new();
    private readonly List<DtlsConnectionListener> _listeners = [];
    private readonly DtlsMetrics? _metrics;
    private CertificateCredentials? _credentials;

    /// <summary>Creates the factory; normally done by dependency injection.</summary>
    /// <param name="options">The transport options.</param>
    /// <param name="loggerFactory">Where the transport logs.</param>
    /// <param name="timeProvider">The clock of the transport's timers (idle timeout, cookie key rotation, session lifetime).</param>
    /// <param name="meterFactory">Creates the <c>SukatDtls.Transport</c> meter; without it the transport records no metrics.</param>
    public DtlsTransportFactory(IOptions<DtlsTransportOptions> options, ILoggerFactory loggerFactory, TimeProvider? timeProvider = null,
        IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(loggerFactory);
        _options = options.Value;
        _loggerFactory = loggerFactory;
        _timeProvider = timeProvider ?? TimeProvider.System;
        _memoryPool = MemoryPool<byte>.Shared;
        _metrics = meterFactory is null ? null : new DtlsMetrics(meterFactory);
    }

    /// <summary>True for <see cref="DtlsEndPoint"/> only.</summary>
    public bool CanBind(EndPoint endpoint) => endpoint is DtlsEndPoint;

    /// <summary>Binds a DTLS listener to <paramref name="endpoint"/>, which must be a <see cref="DtlsEndPoint"/>.</summary>
    /// <exception cref="NotSupportedException">The endpoint is not a <see cref="DtlsEndPoint"/>.</exception>
    /// <exception cref="InvalidOperationException">The options are invalid (e.g. no server certificate).</exception>
    /// <exception cref="AddressInUseException">The UDP address is in use.</exception>
    public ValueTask<IConnectionListener> BindAsync(EndPoint endpoint, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(endpoint);
        if (endpoint is not DtlsEndPoint dtlsEndPoint)
        {
            throw new NotSupportedException($"The DTLS transport binds {nameof(DtlsEndPoint)}s only, not {endpoint.GetType().Name} '{endpoint}'.");
        }

        cancellationToken.ThrowIfCancellationRequested();
        _options.Validate();
        if (_credentials is null && _options.ServerCertificate is { } certificate)
        {
            _credentials = CertificateCredentials.Create(_crypto, certificate, _options.ServerCertificateChain);
        }

        var listener = new DtlsConnectionListener(dtlsEndPoint, _options, _credentials, _crypto, _memoryPool, _timeProvider, _loggerFactory, _metrics);
        listener.Bind();
        lock (_listenersLock)
        {
            _listeners.RemoveAll(static l => l.IsDisposed);
            _listeners.Add(listener);
        }

        return ValueTask.FromResult<IConnectionListener>(listener);
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
