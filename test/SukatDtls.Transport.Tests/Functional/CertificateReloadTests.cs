using System.Diagnostics;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Functional;

/// <summary>
/// A server certificate from files follows the files: new handshakes get the new certificate without a restart,
/// connections made before keep working, and a change that cannot be loaded keeps the old certificate.
/// </summary>
public sealed partial class CertificateReloadTests(ITestOutputHelper output) : IDisposable
{
    private const int Loaded = 40;
    private const int Reloaded = 41;
    private const int ReloadFailed = 42;

    private readonly string _directory = Directory.CreateTempSubdirectory("sukat-dtls-reload-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string CertificatePath => Path.Combine(_directory, "server.pem");

    private string KeyPath => Path.Combine(_directory, "server.key");

    private static byte[] Der(string pemPath) => X509Certificate2.CreateFromPem(File.ReadAllText(pemPath)).RawData;

    private static byte[] Ecdsa => Der(TestCertificates.ServerPem);

    private static byte[] Rsa => Der(TestCertificates.ServerRsaPem);

    private async Task<ConfiguredDtlsHost> StartWithEcdsaFilesAsync(bool fromConfiguration = true)
    {
        File.Copy(TestCertificates.ServerPem, CertificatePath);
        File.Copy(TestCertificates.ServerKey, KeyPath);
        var host = fromConfiguration
            ? await ConfiguredDtlsHost.StartAsync(output, ConfiguredDtlsHost.Section(("CertificatePath", CertificatePath), ("KeyPath", KeyPath)))
            : await ConfiguredDtlsHost.StartAsync(output, builder => builder.WebHost.UseDtls(o => (o.CertificatePath, o.KeyPath) = (CertificatePath, KeyPath)));
        Assert.Equal(1, host.LogCount(Loaded));
        return host;
    }

    /// <summary>A new handshake, and the certificate the server presented in it.</summary>
    private static async Task<byte[]> ServerCertificateOfNewHandshakeAsync(ConfiguredDtlsHost host)
    {
        using var client = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        client.Send("ping");
        Assert.Equal("ping", client.ReceiveText());
        client.Close();
        return client.ServerCertificate!.GetEncoded();
    }

    [Fact]
    public async Task New_handshakes_get_the_new_certificate_and_earlier_connections_go_on()
    {
        await using var host = await StartWithEcdsaFilesAsync();
        using var before = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal(Ecdsa, before.ServerCertificate!.GetEncoded());

        // Overwritten in place, one file after the other, as `cp` does.
        File.Copy(TestCertificates.ServerRsaPem, CertificatePath, overwrite: true);
        File.Copy(TestCertificates.ServerRsaKey, KeyPath, overwrite: true);
        var reloaded = await host.LogEntryAsync(Reloaded);
        Assert.Equal(LogLevel.Information, reloaded.Level);
        Assert.Contains("CN=localhost", reloaded.Message, StringComparison.Ordinal);
        Assert.Contains(X509Certificate2.CreateFromPem(File.ReadAllText(TestCertificates.ServerRsaPem)).GetCertHashString(System.Security.Cryptography.HashAlgorithmName.SHA256),
            reloaded.Message, StringComparison.Ordinal);

        using var after = await TestDtlsClient.ConnectAsync(host.DtlsEndPoint);
        Assert.Equal(Rsa, after.ServerCertificate!.GetEncoded());
        Assert.Equal(CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, after.CipherSuite);
        after.Send("new");
        Assert.Equal("new", after.ReceiveText());

        // The connection made with the old certificate keeps working.
        before.Send("old");
        Assert.Equal("old", before.ReceiveText());
        Assert.Equal(1, host.Factory.Setup!.Credentials.Replacements);
    }

    [Fact]
    public async Task A_garbage_file_keeps_the_old_certificate_with_a_warning_and_the_next_change_is_taken()
    {
        await using var host = await StartWithEcdsaFilesAsync(fromConfiguration: false);

        File.WriteAllText(CertificatePath, "-----BEGIN CERTIFICATE-----\nMIIB"); // cut short
        var failed = await host.LogEntryAsync(ReloadFailed);
        Assert.Equal(LogLevel.Warning, failed.Level);
        Assert.Contains(CertificatePath, failed.Message, StringComparison.Ordinal);
        Assert.Equal(Ecdsa, await ServerCertificateOfNewHandshakeAsync(host));

        File.Copy(TestCertificates.ServerRsaPem, CertificatePath, overwrite: true);
        File.Copy(TestCertificates.ServerRsaKey, KeyPath, overwrite: true);
        await host.LogEntryAsync(Reloaded);
        Assert.Equal(Rsa, await ServerCertificateOfNewHandshakeAsync(host));
    }

    [Fact]
    public async Task A_certificate_written_before_its_key_is_taken_once_the_key_is_there()
    {
        await using var host = await StartWithEcdsaFilesAsync();

        // The new certificate with the old key: they do not match, the old pair stays.
        File.Copy(TestCertificates.ServerRsaPem, CertificatePath, overwrite: true);
        var failed = await host.LogEntryAsync(ReloadFailed);
        output.WriteLine($"reason: {failed.Message}");
        Assert.Equal(Ecdsa, await ServerCertificateOfNewHandshakeAsync(host));
        Assert.Equal(0, host.LogCount(Reloaded));

        File.Copy(TestCertificates.ServerRsaKey, KeyPath, overwrite: true);
        await host.LogEntryAsync(Reloaded);
        Assert.Equal(Rsa, await ServerCertificateOfNewHandshakeAsync(host));
    }

    [Fact]
    public async Task Files_changed_in_steps_within_the_quiet_period_are_loaded_once_when_the_changes_stop()
    {
        await using var host = await StartWithEcdsaFilesAsync();

        // The certificate, then its key 100 ms later (well inside the 500 ms quiet period, even on a loaded machine):
        // a load between the two would find the new certificate with the old key and fail (event 42); the quiet period
        // starts again with each change, so the only load sees the finished pair.
        var clock = Stopwatch.StartNew();
        File.Copy(TestCertificates.ServerRsaPem, CertificatePath, overwrite: true);
        await Task.Delay(100);
        File.Copy(TestCertificates.ServerRsaKey, KeyPath, overwrite: true);
        var keyWritten = clock.Elapsed;
        await host.LogEntryAsync(Reloaded);
        output.WriteLine($"key written after {keyWritten.TotalMilliseconds:F0} ms, loaded after {clock.ElapsedMilliseconds} ms");

        Assert.True(keyWritten < ServerCertificateReloader.Delay, $"the machine was too slow for the test: {keyWritten}");
        Assert.True(clock.Elapsed >= keyWritten + ServerCertificateReloader.Delay - TimeSpan.FromMilliseconds(50),
            $"loaded {clock.ElapsedMilliseconds} ms in, before the quiet period after the last change ended");
        Assert.Equal(0, host.LogCount(ReloadFailed));
        Assert.Equal(1, host.LogCount(Reloaded));
        Assert.Equal(Rsa, await ServerCertificateOfNewHandshakeAsync(host));
    }

    [Fact]
    public async Task Rewriting_the_same_certificate_changes_nothing()
    {
        await using var host = await StartWithEcdsaFilesAsync();
        File.Copy(TestCertificates.ServerPem, CertificatePath, overwrite: true);
        await host.LogEntryAsync(43);

        // Reading the files is no change: a handshake later, still one look at them.
        Assert.Equal(Ecdsa, await ServerCertificateOfNewHandshakeAsync(host));
        await Task.Delay(ServerCertificateReloader.Delay * 2);
        Assert.Equal(1, host.LogCount(43));
        Assert.Equal(0, host.Factory.Setup!.Credentials.Replacements);
        Assert.Equal(0, host.LogCount(Reloaded));
    }

    [Fact]
    public async Task A_symbolic_link_swap_as_Kubernetes_does_for_mounted_secrets_is_picked_up()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // `mv -T`, and the layout of a Kubernetes secret volume, are Linux's.
        }

        // tls.crt -> ..data/tls.crt, ..data -> ..v1: an update writes ..v2 and renames a new link over ..data.
        Directory.CreateDirectory(Path.Combine(_directory, "..v1"));
        File.Copy(TestCertificates.ServerPem, Path.Combine(_directory, "..v1", "tls.crt"));
        File.Copy(TestCertificates.ServerKey, Path.Combine(_directory, "..v1", "tls.key"));
        Directory.CreateSymbolicLink(Path.Combine(_directory, "..data"), "..v1");
        File.CreateSymbolicLink(Path.Combine(_directory, "tls.crt"), "..data/tls.crt");
        File.CreateSymbolicLink(Path.Combine(_directory, "tls.key"), "..data/tls.key");
        await using var host = await ConfiguredDtlsHost.StartAsync(output, ConfiguredDtlsHost.Section(
            ("CertificatePath", Path.Combine(_directory, "tls.crt")), ("KeyPath", Path.Combine(_directory, "tls.key"))));
        Assert.Equal(Ecdsa, await ServerCertificateOfNewHandshakeAsync(host));

        Directory.CreateDirectory(Path.Combine(_directory, "..v2"));
        File.Copy(TestCertificates.ServerRsaPem, Path.Combine(_directory, "..v2", "tls.crt"));
        File.Copy(TestCertificates.ServerRsaKey, Path.Combine(_directory, "..v2", "tls.key"));
        Directory.CreateSymbolicLink(Path.Combine(_directory, "..data_tmp"), "..v2");
        using (var mv = Process.Start(new ProcessStartInfo("mv", ["-T", "..data_tmp", "..data"]) { WorkingDirectory = _directory })!)
        {
            await mv.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(0, mv.ExitCode);
        }

        await host.LogEntryAsync(Reloaded);
        Assert.Equal(Rsa, await ServerCertificateOfNewHandshakeAsync(host));
    }

    [Fact]
    public async Task The_watcher_ends_with_the_host()
    {
        var host = await StartWithEcdsaFilesAsync();
        var factory = host.Factory;
        var reloader = factory.Setup!.Reloader!;
        Assert.Equal(1, reloader.WatchedDirectories);
        Assert.False(reloader.IsDisposed);

        await host.DisposeAsync();
        Assert.True(reloader.IsDisposed);
        await Assert.ThrowsAsync<ObjectDisposedException>(() =>
            factory.BindAsync(new DtlsEndPoint(System.Net.IPAddress.Loopback, 0)).AsTask());
    }

    [Fact]
    public async Task A_certificate_set_in_code_is_not_watched()
    {
        await using var host = await DtlsTestHost.StartAsync<EchoConnectionHandler>(output, configureServices: s => s.AddSingleton(new ConnectionObserver()));
        Assert.Null(host.Factory.Setup!.Reloader);
        Assert.NotNull(host.Factory.Setup.Credentials.Current);
    }
}
