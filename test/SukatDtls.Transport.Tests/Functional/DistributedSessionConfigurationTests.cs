using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// The distributed session store's configuration is checked when the host starts: a missing or bad encryption key, an
/// unknown key or no distributed cache stop the start with a message that names what to fix.
/// </summary>
public sealed class DistributedSessionConfigurationTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Without_an_encryption_key_the_host_does_not_start()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() => StartAsync(s => s.AddDtlsDistributedSessionCache()));

        Assert.Contains("DtlsDistributedSessionCacheOptions.EncryptionKey is not set", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("EncryptionKey", "0011223344556677", "DtlsSessionStore:EncryptionKey has 8 bytes; it needs at least 16 (128 bits).")]
    [InlineData("EncryptionKey", "secret!", "DtlsSessionStore:EncryptionKey is not a hexadecimal secret")]
    [InlineData("OperationTimeout", "00:01:00", "DtlsSessionStore:OperationTimeout must be positive and at most 10 s")]
    [InlineData("EncryptionKy", "00", "DtlsSessionStore:EncryptionKy is not an option of the distributed session store (misspelt?)")]
    public async Task A_bad_value_from_configuration_is_named_by_its_key(string key, string value, string expected)
    {
        var configuration = new ConfigurationBuilder().AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["DtlsSessionStore:EncryptionKey"] = DistributedSessionTests.Key,
            [$"DtlsSessionStore:{key}"] = value,
        }).Build();

        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            StartAsync(s => s.AddDtlsDistributedSessionCache(configuration.GetSection("DtlsSessionStore"))));

        Assert.Contains(expected, ex.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(DistributedSessionTests.Key, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_a_distributed_cache_the_host_does_not_start()
    {
        var ex = await Assert.ThrowsAsync<OptionsValidationException>(() =>
            StartAsync(s => s.AddDtlsDistributedSessionCache(o => o.EncryptionKey = DistributedSessionTests.Key), addCache: false));

        Assert.Contains("none is registered", ex.Message, StringComparison.Ordinal);
        Assert.Contains("AddStackExchangeRedisCache", ex.Message, StringComparison.Ordinal);
    }

    private async Task StartAsync(Action<IServiceCollection> configure, bool addCache = true)
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: services =>
        {
            if (addCache)
            {
                services.AddDistributedMemoryCache();
            }

            configure(services);
        });
    }
}
