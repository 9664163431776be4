using System.Security.Cryptography;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>Our TLS 1.2 PRF against BouncyCastle's, which every interop test already holds to OpenSSL and GnuTLS.</summary>
public sealed class Tls12PrfTests
{
    private static readonly BcTlsCrypto s_bouncyCastle = new(new SecureRandom());
    private static readonly PlatformTlsCrypto s_platform = new(new SecureRandom());

    public static TheoryData<int, int, int, int> Cases => new()
    {
        // PRF, secret length, seed length, output length
        { PrfAlgorithm.tls_prf_sha256, 32, 64, 48 },   // master secret from an X25519 pre-master secret
        { PrfAlgorithm.tls_prf_sha256, 48, 32, 12 },   // Finished over the session hash
        { PrfAlgorithm.tls_prf_sha256, 48, 64, 40 },   // AES-128-GCM key block
        { PrfAlgorithm.tls_prf_sha256, 48, 64, 104 },  // CBC + HMAC-SHA256 key block: four blocks
        { PrfAlgorithm.tls_prf_sha384, 48, 48, 12 },
        { PrfAlgorithm.tls_prf_sha384, 48, 64, 72 },   // AES-256-GCM key block
        { PrfAlgorithm.tls_prf_sha256, 64, 400, 33 },  // a seed beyond the stack buffer
        { PrfAlgorithm.tls_prf_sha384, 5, 1, 1 },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void Matches_BouncyCastles_PRF(int prf, int secretLength, int seedLength, int length)
    {
        byte[] secret = RandomNumberGenerator.GetBytes(secretLength);
        byte[] seed = RandomNumberGenerator.GetBytes(seedLength);
        const string Label = "key expansion";

        byte[] expected = s_bouncyCastle.CreateSecret(secret).DeriveUsingPrf(prf, Label, seed, length).Extract();

        byte[] direct = new byte[length];
        Tls12Prf.Compute(prf == PrfAlgorithm.tls_prf_sha384, secret, Label, seed, direct);
        Assert.Equal(expected, direct);

        // Through the crypto's secrets, both overloads, and derived secrets that derive again (master, then key block).
        var ours = s_platform.CreateSecret(secret);
        Assert.IsType<PlatformTlsSecret>(ours);
        var derived = ours.DeriveUsingPrf(prf, Label, seed, length);
        Assert.IsType<PlatformTlsSecret>(derived);
        Assert.Equal(expected, derived.Extract());
        Assert.Equal(expected, s_platform.CreateSecret(secret).DeriveUsingPrf(prf, Label.AsSpan(), seed.AsSpan(), length).Extract());

        byte[] twiceExpected = s_bouncyCastle.CreateSecret(expected).DeriveUsingPrf(prf, "client finished", seed, 12).Extract();
        Assert.Equal(twiceExpected, s_platform.CreateSecret(expected).DeriveUsingPrf(prf, "client finished", seed, 12).Extract());
    }

    [Theory]
    [InlineData(NamedGroup.secp256r1)]
    [InlineData(NamedGroup.secp384r1)]
    [InlineData(NamedGroup.x25519)]
    public void ECDH_shared_secrets_are_secrets_with_this_PRF_and_both_sides_agree(int namedGroup)
    {
        var domain = s_platform.CreateECDomain(new Org.BouncyCastle.Tls.Crypto.TlsECConfig(namedGroup));
        var server = domain.CreateECDH();
        var client = domain.CreateECDH();
        byte[] serverShare = server.GenerateEphemeral();
        byte[] clientShare = client.GenerateEphemeral();
        server.ReceivePeerValue(clientShare);
        client.ReceivePeerValue(serverShare);

        var serverSecret = server.CalculateSecret();
        var clientSecret = client.CalculateSecret();
        Assert.IsType<PlatformTlsSecret>(serverSecret);
        Assert.IsType<PlatformTlsSecret>(clientSecret);
        Assert.Equal(serverSecret.Extract(), clientSecret.Extract());
    }
}
