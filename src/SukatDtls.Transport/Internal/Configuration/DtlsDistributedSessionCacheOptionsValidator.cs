using Microsoft.Extensions.Caching.Distributed;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The rules of <see cref="DtlsDistributedSessionCacheOptions"/>, checked when the host starts (<c>ValidateOnStart</c>)
/// and whenever the options are read: the host does not start, and <see cref="OptionsValidationException"/> lists every
/// problem, naming the configuration key (<c>DtlsSessionStore:EncryptionKey</c>) or the property.
/// </summary>
/// <param name="services">Tells whether an <see cref="IDistributedCache"/> is registered (null: not checked).</param>
internal sealed class DtlsDistributedSessionCacheOptionsValidator(IServiceProviderIsService? services = null)
    : IValidateOptions<DtlsDistributedSessionCacheOptions>
{
    private const string OptionsName = nameof(DtlsDistributedSessionCacheOptions);

    /// <summary>The longest <see cref="DtlsDistributedSessionCacheOptions.OperationTimeout"/>: a handshake waits for a lookup.</summary>
    public static readonly TimeSpan MaxOperationTimeout = TimeSpan.FromSeconds(10);

    private static readonly string[] s_keys =
    [
        nameof(DtlsDistributedSessionCacheOptions.EncryptionKey),
        nameof(DtlsDistributedSessionCacheOptions.KeyPrefix),
        nameof(DtlsDistributedSessionCacheOptions.OperationTimeout),
    ];

    public ValidateOptionsResult Validate(string? name, DtlsDistributedSessionCacheOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var failures = Check(options);
        if (services is not null && !services.IsService(typeof(IDistributedCache)))
        {
            failures.Add("AddDtlsDistributedSessionCache keeps sessions in the application's IDistributedCache, and none is registered: "
                + "register one first, e.g. services.AddStackExchangeRedisCache(o => o.Configuration = \"redis:6379\").");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }

    /// <summary>Everything wrong with <paramref name="options"/>; empty when they are good.</summary>
    public static List<string> Check(DtlsDistributedSessionCacheOptions options)
    {
        var failures = new List<string>();
        foreach (var section in options.ConfigurationSections)
        {
            foreach (var child in section.GetChildren())
            {
                if (!s_keys.Contains(child.Key, StringComparer.OrdinalIgnoreCase))
                {
                    failures.Add($"{KeyOf(section, child.Key)} is not an option of the distributed session store (misspelt?); the keys are {string.Join(", ", s_keys)}.");
                }
            }
        }

        string keyName = NameOf(options, nameof(DtlsDistributedSessionCacheOptions.EncryptionKey));
        if (string.IsNullOrWhiteSpace(options.EncryptionKey))
        {
            failures.Add($"{keyName} is not set: the distributed session store encrypts the sessions it keeps (they hold master secrets) "
                + $"with it, and every node that shares the store needs the same one: at least {DtlsTransportOptionsRules.MinimumSecretLength} bytes as hex, "
                + "e.g. from 'openssl rand -hex 32', kept in an environment variable or a secret store.");
        }
        else
        {
            OptionLimits.Report(OptionLimits.HexSecret(options.EncryptionKey, DtlsTransportOptionsRules.MinimumSecretLength), keyName, failures);
        }

        if (options.OperationTimeout <= TimeSpan.Zero || options.OperationTimeout > MaxOperationTimeout)
        {
            failures.Add($"{NameOf(options, nameof(DtlsDistributedSessionCacheOptions.OperationTimeout))} must be positive and at most {MaxOperationTimeout.TotalSeconds:0} s (a handshake waits for a lookup); it is {options.OperationTimeout}.");
        }

        if (options.KeyPrefix is null)
        {
            failures.Add($"{NameOf(options, nameof(DtlsDistributedSessionCacheOptions.KeyPrefix))} must not be null (it may be empty).");
        }

        return failures;
    }

    /// <summary>"DtlsSessionStore:EncryptionKey" when bound from configuration, else "DtlsDistributedSessionCacheOptions.EncryptionKey".</summary>
    private static string NameOf(DtlsDistributedSessionCacheOptions options, string property)
    {
        var sections = options.ConfigurationSections;
        for (int i = sections.Count - 1; i >= 0; i--)
        {
            if (sections[i].GetSection(property).Exists())
            {
                return KeyOf(sections[i], property);
            }
        }

        return sections.Count > 0 && sections[^1] is IConfigurationSection { Path.Length: > 0 }
            ? KeyOf(sections[^1], property)
            : $"{OptionsName}.{property}";
    }

    private static string KeyOf(IConfiguration section, string key) =>
        section is IConfigurationSection { Path.Length: > 0 } named ? $"{named.Path}:{key}" : key;
}
