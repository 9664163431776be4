using System.Security.Cryptography;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// ECDSA signatures by the system libcrypto on a signing context kept per key copy (<see cref="OpenSslEcdsaKey"/>):
/// what <see cref="PlatformKeyPool"/> lends on Linux, DER that .NET verifies signature after signature on every NIST
/// curve, and the self-check that keeps .NET's ECDsa when libcrypto's first signature does not verify. (End to end,
/// every ECDSA handshake of the suite and the openssl and GnuTLS interop tests verify these signatures too.)
/// </summary>
public sealed class OpenSslEcdsaKeyTests
{
    public static TheoryData<string> Curves => new() { "P-256", "P-384", "P-521" };

    [Theory]
    [MemberData(nameof(Curves))]
    public void On_linux_the_pool_lends_libcrypto_copies_whose_signatures_verify_one_after_another(string curve)
    {
        using var key = ECDsa.Create(curve switch
        {
            "P-256" => ECCurve.NamedCurves.nistP256,
            "P-384" => ECCurve.NamedCurves.nistP384,
            _ => ECCurve.NamedCurves.nistP521,
        });
        var pool = new PlatformKeyPool(key.ExportPkcs8PrivateKey(), ecdsa: true);
        var copy = pool.Rent();
        try
        {
            if (OperatingSystem.IsLinux())
            {
                Assert.IsType<OpenSslEcdsaKey>(copy);
            }

            if (copy is not OpenSslEcdsaKey native)
            {
                return;
            }

            // The one context signs again and again (each a different hash and a fresh nonce).
            for (int i = 0; i < 20; i++)
            {
                byte[] hash = SHA384.HashData(BitConverter.GetBytes(i));
                byte[] signature = native.Sign(hash);
                Assert.Equal(0x30, signature[0]);
                Assert.True(key.VerifyHash(hash, signature, DSASignatureFormat.Rfc3279DerSequence), $"signature {i} verifies");
            }
        }
        finally
        {
            pool.Return(copy);
        }
    }

    [Fact]
    public void A_copy_whose_first_signature_does_not_verify_is_not_made()
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        using var other = ECDsa.Create(ECCurve.NamedCurves.nistP256);

        Assert.Null(OpenSslEcdsaKey.TryCreate(key.ExportPkcs8PrivateKey(), verifier: other));
        using var made = OpenSslEcdsaKey.TryCreate(key.ExportPkcs8PrivateKey(), verifier: key);
        Assert.True(made is not null || !OperatingSystem.IsLinux(), "on Linux libcrypto signs with the key");
    }

    [Fact]
    public void An_rsa_pool_lends_dotnet_rsa_copies()
    {
        using var key = RSA.Create(2048);
        var pool = new PlatformKeyPool(key.ExportPkcs8PrivateKey(), ecdsa: false);
        var copy = pool.Rent();
        Assert.IsAssignableFrom<RSA>(copy);
        pool.Return(copy);
    }
}
