using System.Security.Cryptography;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// Raw public keys for the RFC 7250 tests: the development client's key (certs/client.key, the key a CoAP device
/// would use), the server certificate's key, new keys, and their SHA-256 fingerprints of SubjectPublicKeyInfo.
/// </summary>
internal static class TestRawPublicKeys
{
    /// <summary>certs/client.key as an ECDSA P-256 key pair.</summary>
    public static ECDsa ClientKey() => Load(TestCertificates.ClientKey);

    /// <summary>certs/server.key: the key of the default server certificate.</summary>
    public static ECDsa ServerKey() => Load(TestCertificates.ServerKey);

    public static ECDsa NewKey() => ECDsa.Create(ECCurve.NamedCurves.nistP256);

    public static byte[] SubjectPublicKeyInfo(ECDsa key) => key.ExportSubjectPublicKeyInfo();

    /// <summary>What <c>openssl pkey -pubout -outform DER | sha256sum</c> prints for the key.</summary>
    public static byte[] Sha256(ECDsa key) => SHA256.HashData(key.ExportSubjectPublicKeyInfo());

    public static string Sha256Hex(ECDsa key) => Convert.ToHexStringLower(Sha256(key));

    private static ECDsa Load(string path)
    {
        var key = ECDsa.Create();
        key.ImportFromPem(File.ReadAllText(path));
        return key;
    }
}
