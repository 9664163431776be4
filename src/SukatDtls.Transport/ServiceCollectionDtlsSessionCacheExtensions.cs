using System.Diagnostics.Metrics;
using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using SukatDtls.Transport;
using SukatDtls.Transport.Internal;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the DTLS server's distributed session store.</summary>
public static class ServiceCollectionDtlsSessionCacheExtensions
{
    /// <summary>
    /// Keeps the DTLS server's sessions in the application's <see cref="IDistributedCache"/>, so that a client resumes
    /// its session (an abbreviated handshake) on any node that shares the cache and the encryption key, and after a
    /// restart: <c>services.AddStackExchangeRedisCache(o =&gt; o.Configuration = "redis:6379");</c> then
    /// <c>services.AddDtlsDistributedSessionCache(o =&gt; o.EncryptionKey = key);</c>.
    /// </summary>
    /// <param name="services">The application's services; an <see cref="IDistributedCache"/> must be registered too.</param>
    /// <param name="configureOptions">Sets <see cref="DtlsDistributedSessionCacheOptions.EncryptionKey"/> (required) and the rest.</param>
    /// <returns><paramref name="services"/>.</returns>
    /// <remarks>
    /// The transport uses it unless <see cref="DtlsTransportOptions.SessionCache"/> is set in code, and only while
    /// <see cref="DtlsTransportOptions.EnableSessionResumption"/> is on. The options are checked when the host starts: a
    /// missing or short key, or no <see cref="IDistributedCache"/>, stop it with an <see cref="OptionsValidationException"/>.
    /// </remarks>
    public static IServiceCollection AddDtlsDistributedSessionCache(this IServiceCollection services,
        Action<DtlsDistributedSessionCacheOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        return AddCore(services, configuration: null, configureOptions);
    }

    /// <summary>
    /// As <see cref="AddDtlsDistributedSessionCache(IServiceCollection, Action{DtlsDistributedSessionCacheOptions}?)"/>,
    /// with the options bound from a configuration section, e.g. <c>builder.Configuration.GetSection("DtlsSessionStore")</c>
    /// holding <c>EncryptionKey</c> (from an environment variable <c>DtlsSessionStore__EncryptionKey</c> or a secret
    /// store), <c>OperationTimeout</c> and <c>KeyPrefix</c>. Unknown keys fail the start, naming the key.
    /// </summary>
    /// <param name="services">The application's services; an <see cref="IDistributedCache"/> must be registered too.</param>
    /// <param name="configuration">The section to bind.</param>
    /// <param name="configureOptions">Runs after the binding.</param>
    /// <returns><paramref name="services"/>.</returns>
    public static IServiceCollection AddDtlsDistributedSessionCache(this IServiceCollection services, IConfiguration configuration,
        Action<DtlsDistributedSessionCacheOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        ArgumentNullException.ThrowIfNull(configuration);
        return AddCore(services, configuration, configureOptions);
    }

    private static IServiceCollection AddCore(IServiceCollection services, IConfiguration? configuration,
        Action<DtlsDistributedSessionCacheOptions>? configureOptions)
    {
        var options = services.AddOptions<DtlsDistributedSessionCacheOptions>();
        if (configuration is not null)
        {
            options.Configure(o =>
            {
                o.ConfigurationSections.Add(configuration);
                OptionsBinder.Bind(configuration, o);
            });
        }

        if (configureOptions is not null)
        {
            options.Configure(configureOptions);
        }

        options.ValidateOnStart();
        services.TryAddEnumerable(ServiceDescriptor.Singleton<IValidateOptions<DtlsDistributedSessionCacheOptions>, DtlsDistributedSessionCacheOptionsValidator>());

        // Called twice, it adds options once more (both run) but one store.
        if (!services.Any(d => d.ServiceType == typeof(DistributedDtlsSessionCache)))
        {
            services.AddSingleton(CreateStore);
            services.AddSingleton<IDtlsSessionCache>(provider => provider.GetRequiredService<DistributedDtlsSessionCache>());
        }

        return services;
    }

    private static DistributedDtlsSessionCache CreateStore(IServiceProvider provider)
    {
        // Reading the options validates them (the same rules as at start), so a bad key never reaches the store.
        var options = provider.GetRequiredService<IOptions<DtlsDistributedSessionCacheOptions>>().Value;
        var cache = provider.GetService<IDistributedCache>() ?? throw new InvalidOperationException(
            "AddDtlsDistributedSessionCache keeps sessions in the application's IDistributedCache, and none is registered: "
            + "register one first, e.g. services.AddStackExchangeRedisCache(o => o.Configuration = \"redis:6379\").");
        return new DistributedDtlsSessionCache(
            cache,
            options,
            provider.GetRequiredService<IOptions<DtlsTransportOptions>>().Value.SessionLifetime,
            provider.GetService<TimeProvider>() ?? TimeProvider.System,
            provider.GetService<ILoggerFactory>() ?? NullLoggerFactory.Instance,
            provider.GetService<IMeterFactory>());
    }
}
