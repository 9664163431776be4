using Org.BouncyCastle.Security;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The handshake's nonces come from the platform's CSPRNG (<see cref="PlatformNonceGenerator"/>), whichever of
/// BouncyCastle's two entry points asks: the size asked for, and never the same twice.
/// </summary>
public sealed class PlatformNonceGeneratorTests
{
    [Fact]
    public void Both_entry_points_give_fresh_random_nonces_of_the_size_asked()
    {
        var crypto = new PlatformTlsCrypto(new SecureRandom());
        var generators = new[] { crypto.CreateNonceGenerator([1, 2, 3]), crypto.CreateNonceGenerator(ReadOnlySpan<byte>.Empty) };
        var seen = new HashSet<string>();
        foreach (var generator in generators)
        {
            Assert.Same(PlatformNonceGenerator.Instance, generator);
            for (int i = 0; i < 100; i++)
            {
                byte[] nonce = generator.GenerateNonce(32);
                Assert.Equal(32, nonce.Length);
                Assert.True(seen.Add(Convert.ToHexString(nonce)), "a nonce came twice");
            }
        }

        Assert.Equal(12, generators[0].GenerateNonce(12).Length);
    }
}
