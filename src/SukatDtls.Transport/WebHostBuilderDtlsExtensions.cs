using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SukatDtls.Transport;

namespace Microsoft.AspNetCore.Hosting;

/// <summary>Adds the DTLS transport to a Kestrel web host.</summary>
public static class WebHostBuilderDtlsExtensions
{
    /// <summary>
    /// Lets Kestrel serve <see cref="DtlsEndPoint"/>s over DTLS 1.2, beside (not instead of) its TCP sockets transport:
    /// <c>k.Listen(new DtlsEndPoint(IPAddress.IPv6Any, 5684), l =&gt; l.UseConnectionHandler&lt;MyHandler&gt;())</c>.
    /// Works whether it is called before or after <c>UseKestrel</c>.
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="configureOptions">Sets the server certificate and other <see cref="DtlsTransportOptions"/>.</param>
    public static IWebHostBuilder UseDtls(this IWebHostBuilder hostBuilder, Action<DtlsTransportOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);

        // Kestrel registers its sockets transport with TryAdd: had ours been registered first, TCP endpoints would
        // have no transport. Registering the sockets transport here first (TryAdd again, so never twice) makes the
        // order of UseKestrel and UseDtls irrelevant. Kestrel tries the last registered factory first and asks
        // CanBind, so DTLS endpoints come to us and every other endpoint goes on to the sockets transport.
        hostBuilder.UseSockets();
        return hostBuilder.ConfigureServices(services =>
        {
            var options = services.AddOptions<DtlsTransportOptions>();
            if (configureOptions is not null)
            {
                options.Configure(configureOptions);
            }

            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, DtlsTransportFactory>());
        });
    }
}
