using Org.BouncyCastle.Crypto;
using Org.BouncyCastle.Crypto.Macs;
using Org.BouncyCastle.Crypto.Parameters;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The platform digests that replace BouncyCastle's in the TLS code give BouncyCastle's results: plain hashing, the
/// transcript forks (clone, then both go on), reset, and HMAC on top (the PRF).
/// </summary>
public sealed class PlatformDigestTests
{
    private static readonly BcTlsCrypto s_bouncyCastle = new(new SecureRandom());
    private static readonly PlatformTlsCrypto s_platform = new(new SecureRandom());

    public static TheoryData<int> Algorithms => new()
    {
        CryptoHashAlgorithm.sha1, CryptoHashAlgorithm.sha256, CryptoHashAlgorithm.sha384, CryptoHashAlgorithm.sha512,
    };

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Hashes_clones_and_resets_like_bouncycastle(int algorithm)
    {
        var ours = s_platform.CreateDigest(algorithm);
        var theirs = s_bouncyCastle.CreateDigest(algorithm);
        Assert.IsType<PlatformDigest>(ours);
        Assert.Equal(theirs.GetDigestSize(), ours.GetDigestSize());
        Assert.Equal(theirs.GetByteLength(), ours.GetByteLength());
        Assert.Equal(theirs.AlgorithmName, ours.AlgorithmName);

        var data = new byte[1000];
        new Random(algorithm).NextBytes(data);
        foreach (var digest in new[] { ours, theirs })
        {
            digest.Update(0x42);
            digest.BlockUpdate(data, 3, 500);
        }

        var oursForked = s_platform.CloneDigest(algorithm, ours);
        var theirsForked = s_bouncyCastle.CloneDigest(algorithm, theirs);
        foreach (var digest in new[] { oursForked, theirsForked })
        {
            digest.BlockUpdate(data.AsSpan(503));
        }

        Assert.Equal(Final(theirs), Final(ours));
        Assert.Equal(Final(theirsForked), Final(oursForked));

        // DoFinal resets; so does Reset after partial input.
        ours.BlockUpdate(data, 0, 10);
        ours.Reset();
        theirs.Reset();
        ours.BlockUpdate(data, 0, 77);
        theirs.BlockUpdate(data, 0, 77);
        Assert.Equal(Final(theirs), Final(ours));
    }

    [Theory]
    [MemberData(nameof(Algorithms))]
    public void Hmac_over_the_platform_digest_matches(int algorithm)
    {
        var key = new KeyParameter(Enumerable.Range(0, 200).Select(i => (byte)i).ToArray());
        var ours = new HMac(s_platform.CreateDigest(algorithm));
        var theirs = new HMac(s_bouncyCastle.CreateDigest(algorithm));
        ours.Init(key);
        theirs.Init(key);
        for (int round = 0; round < 3; round++)
        {
            var input = Enumerable.Range(round, 300).Select(i => (byte)(i * 7)).ToArray();
            ours.BlockUpdate(input, 0, input.Length);
            theirs.BlockUpdate(input, 0, input.Length);
            Assert.Equal(Final(theirs), Final(ours));
        }
    }

    private static byte[] Final(IDigest digest)
    {
        var output = new byte[digest.GetDigestSize()];
        digest.DoFinal(output, 0);
        return output;
    }

    private static byte[] Final(HMac mac)
    {
        var output = new byte[mac.GetMacSize()];
        mac.DoFinal(output, 0);
        return output;
    }
}
