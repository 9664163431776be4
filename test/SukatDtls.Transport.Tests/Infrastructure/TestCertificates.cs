using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>The development certificates from certs/, copied next to the test assembly.</summary>
internal static class TestCertificates
{
    public static string Directory { get; } = Path.Combine(AppContext.BaseDirectory, "certs");

    public static string Path_(string file) => Path.Combine(Directory, file);

    public static string ServerPem => Path_("server.pem");

    public static string ServerKey => Path_("server.key");

    public static string ServerRsaPem => Path_("server-rsa.pem");

    public static string ServerRsaKey => Path_("server-rsa.key");

    public static string CaPem => Path_("ca.pem");

    public static string ClientPem => Path_("client.pem");

    public static string ClientKey => Path_("client.key");

    public static X509Certificate2 EcdsaServer() => X509Certificate2.CreateFromPemFile(ServerPem, ServerKey);

    public static X509Certificate2 RsaServer() => X509Certificate2.CreateFromPemFile(ServerRsaPem, ServerRsaKey);
}
