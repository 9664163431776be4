using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport;
using SukatDtls.Transport.Internal;

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
    /// <remarks>Invalid options fail the host's start with an <see cref="InvalidOperationException"/> when Kestrel binds.</remarks>
    public static IWebHostBuilder UseDtls(this IWebHostBuilder hostBuilder, Action<DtlsTransportOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        return UseDtlsCore(hostBuilder, configuration: null, configureOptions);
    }

    /// <summary>
    /// Lets Kestrel serve <see cref="DtlsEndPoint"/>s over DTLS 1.2, with <see cref="DtlsTransportOptions"/> bound from a
    /// configuration section, e.g. <c>builder.WebHost.UseDtls(builder.Configuration.GetSection("Dtls"))</c> with an
    /// appsettings.json <c>"Dtls": { "CertificatePath": "certs/server.pem", "KeyPath": "certs/server.key" }</c>.
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="configuration">The section to bind (scalars, TimeSpans as "00:00:10", enums by name, file paths).</param>
    /// <param name="configureOptions">Runs after the binding: what only code can set (callbacks, stores), or overrides.</param>
    /// <remarks>
    /// The options are validated when the host starts (<c>ValidateOnStart</c>): a bad value, an unknown key or a
    /// certificate file that cannot be loaded fails <c>StartAsync</c> with an <see cref="OptionsValidationException"/>
    /// whose failures name the configuration key (a value of the wrong type, with the binder's
    /// <see cref="InvalidOperationException"/>, which names it too). The section is read once, at start; the
    /// certificate's files are then watched and reloaded (<see cref="DtlsTransportOptions.CertificatePath"/>).
    /// Relative paths are relative to the content root.
    /// </remarks>
    public static IWebHostBuilder UseDtls(this IWebHostBuilder hostBuilder, IConfiguration configuration,
        Action<DtlsTransportOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        ArgumentNullException.ThrowIfNull(configuration);
        return UseDtlsCore(hostBuilder, _ => configuration, configureOptions);
    }

    /// <summary>
    /// As <see cref="UseDtls(IWebHostBuilder, IConfiguration, Action{DtlsTransportOptions}?)"/>, with the section of the
    /// host's configuration named <paramref name="sectionName"/> (e.g. "Dtls"), for hosts whose configuration is not at
    /// hand where the web host is configured.
    /// </summary>
    /// <param name="hostBuilder">The web host builder.</param>
    /// <param name="sectionName">The configuration section, e.g. "Dtls".</param>
    /// <param name="configureOptions">Runs after the binding: what only code can set (callbacks, stores), or overrides.</param>
    public static IWebHostBuilder UseDtls(this IWebHostBuilder hostBuilder, string sectionName,
        Action<DtlsTransportOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(hostBuilder);
        ArgumentException.ThrowIfNullOrWhiteSpace(sectionName);
        return UseDtlsCore(hostBuilder, context => context.Configuration.GetSection(sectionName), configureOptions);
    }

    private static IWebHostBuilder UseDtlsCore(IWebHostBuilder hostBuilder, Func<WebHostBuilderContext, IConfiguration>? configuration,
        Action<DtlsTransportOptions>? configureOptions)
    {
        // Kestrel registers its sockets transport with TryAdd: had ours been registered first, TCP endpoints would
        // have no transport. Registering the sockets transport here first (TryAdd again, so never twice) makes the
        // order of UseKestrel and UseDtls irrelevant. Kestrel tries the last registered factory first and asks
        // CanBind, so DTLS endpoints come to us and every other endpoint goes on to the sockets transport.
        hostBuilder.UseSockets();
        return hostBuilder.ConfigureServices((context, services) =>
        {
            var options = services.AddOptions<DtlsTransportOptions>();

            // Relative certificate paths are relative to the content root, as Kestrel's are.
            string contentRoot = context.HostingEnvironment.ContentRootPath;
            options.Configure(o => o.ContentRootPath ??= contentRoot);
            if (configuration?.Invoke(context) is { } section)
            {
                options.Configure(o =>
                {
                    o.ConfigurationSections.Add(section);
                    OptionsBinder.Bind(section, o);
                });
                options.ValidateOnStart();
                services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DtlsTransportOptions>, DtlsTransportOptionsValidator>());
            }

            if (configureOptions is not null)
            {
                options.Configure(configureOptions);
            }

            services.TryAddEnumerable(ServiceDescriptor.Singleton<IConnectionListenerFactory, DtlsTransportFactory>());
        });
    }
}
