using Microsoft.AspNetCore.Connections;
using Microsoft.Extensions.DependencyInjection.Extensions;
using SukatDtls.Transport.Client;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers the DTLS client.</summary>
public static class ServiceCollectionDtlsClientExtensions
{
    /// <summary>
    /// Registers <see cref="DtlsConnectionFactory"/> (also as <see cref="IConnectionFactory"/>) with its options.
    /// </summary>
    public static IServiceCollection AddDtlsClient(this IServiceCollection services, Action<DtlsClientOptions>? configureOptions = null)
    {
        ArgumentNullException.ThrowIfNull(services);
        var options = services.AddOptions<DtlsClientOptions>();
        if (configureOptions is not null)
        {
            options.Configure(configureOptions);
        }

        services.TryAddSingleton<DtlsConnectionFactory>();
        services.TryAddSingleton<IConnectionFactory>(provider => provider.GetRequiredService<DtlsConnectionFactory>());
        return services;
    }
}
