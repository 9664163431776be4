using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// X25519 on the system libcrypto agrees with BouncyCastle's own X25519 and refuses what RFC 7748 says to refuse.
/// (End to end, every handshake of the suite and the openssl interop tests run it too.)
/// </summary>
public sealed class PlatformX25519Tests
{
    private static readonly TlsECConfig X25519 = new(NamedGroup.x25519);

    [Fact]
    public void The_system_libcrypto_is_used_on_linux()
    {
        if (!OperatingSystem.IsLinux())
        {
            return; // elsewhere BouncyCastle's X25519 may be used, and every handshake test covers that
        }

        Assert.True(OpenSslX25519.IsAvailable, "libcrypto.so.3 or .so.1.1 should load and pass RFC 7748's test vector");
        Assert.IsType<PlatformX25519Domain>(new PlatformTlsCrypto(new SecureRandom()).CreateECDomain(X25519));
    }

    [Fact]
    public void Keys_are_imported_on_a_context_kept_per_thread_with_openssl_3()
    {
        if (!OperatingSystem.IsLinux() || OpenSslX25519.LibraryName != "libcrypto.so.3")
        {
            return; // OpenSSL 1.1.1 has no EVP_PKEY_fromdata: the raw-key functions are used, as elsewhere
        }

        Assert.True(OpenSslX25519.ImportsOnThreadContext, "EVP_PKEY_fromdata should load and pass RFC 7748's test vector");
    }

    [Fact]
    public void Keys_made_and_used_on_several_threads_agree_with_bouncycastle()
    {
        if (!PlatformX25519IsUsable())
        {
            return;
        }

        // Each thread imports on its own context; a key made on one thread is used on another (as a handshake's
        // first flight on a handshake thread and its last on a receive loop).
        var made = new System.Collections.Concurrent.ConcurrentQueue<(Org.BouncyCastle.Tls.Crypto.TlsAgreement Ours, byte[] OurPublic)>();
        Parallel.For(0, 40, new ParallelOptions { MaxDegreeOfParallelism = 4 }, _ =>
        {
            var ours = new PlatformX25519Domain(new BcTlsCrypto(new SecureRandom())).CreateECDH();
            made.Enqueue((ours, ours.GenerateEphemeral()));
        });
        Parallel.ForEach(made, new ParallelOptions { MaxDegreeOfParallelism = 4 }, pair =>
        {
            var theirs = new BcTlsCrypto(new SecureRandom()).CreateECDomain(X25519).CreateECDH();
            pair.Ours.ReceivePeerValue(theirs.GenerateEphemeral());
            theirs.ReceivePeerValue(pair.OurPublic);
            Assert.Equal(theirs.CalculateSecret().Extract(), pair.Ours.CalculateSecret().Extract());
        });
    }

    [Fact]
    public void Both_sides_agree_with_bouncycastle_in_either_role()
    {
        if (!PlatformX25519IsUsable())
        {
            return;
        }

        var platform = new PlatformX25519Domain(new BcTlsCrypto(new SecureRandom()));
        var bouncyCastle = new BcTlsCrypto(new SecureRandom()).CreateECDomain(X25519);

        for (int i = 0; i < 20; i++)
        {
            var ours = platform.CreateECDH();
            var theirs = bouncyCastle.CreateECDH();
            byte[] ourPublic = ours.GenerateEphemeral();
            byte[] theirPublic = theirs.GenerateEphemeral();
            ours.ReceivePeerValue(theirPublic);
            theirs.ReceivePeerValue(ourPublic);

            Assert.Equal(theirs.CalculateSecret().Extract(), ours.CalculateSecret().Extract());
        }
    }

    [Fact]
    public void A_small_order_peer_value_is_an_illegal_parameter()
    {
        if (!PlatformX25519IsUsable())
        {
            return;
        }

        var agreement = new PlatformX25519Domain(new BcTlsCrypto(new SecureRandom())).CreateECDH();
        agreement.GenerateEphemeral();
        agreement.ReceivePeerValue(new byte[32]); // u = 0: every shared secret is zero

        var alert = Assert.Throws<TlsFatalAlert>(() => agreement.CalculateSecret());
        Assert.Equal(AlertDescription.illegal_parameter, alert.AlertDescription);
    }

    /// <summary>On Linux libcrypto must be usable (the assertion fails otherwise); elsewhere it may be absent.</summary>
    private static bool PlatformX25519IsUsable()
    {
        Assert.True(OpenSslX25519.IsAvailable || !OperatingSystem.IsLinux(), "libcrypto should be usable on Linux");
        return OpenSslX25519.IsAvailable;
    }

    [Theory]
    [InlineData(0)]
    [InlineData(31)]
    [InlineData(33)]
    [InlineData(65)]
    public void A_peer_value_of_the_wrong_length_is_an_illegal_parameter(int length)
    {
        var agreement = new PlatformX25519Domain(new BcTlsCrypto(new SecureRandom())).CreateECDH();
        var alert = Assert.Throws<TlsFatalAlert>(() => agreement.ReceivePeerValue(new byte[length]));
        Assert.Equal(AlertDescription.illegal_parameter, alert.AlertDescription);
    }
}
