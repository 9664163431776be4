using System.Security.Cryptography;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// AES-GCM on libcrypto's EVP context (<see cref="OpenSslGcmAlgorithm"/>), keyed once per direction: it is the one the
/// record layer uses here, and record after record on one instance it computes what .NET's <see cref="AesGcm"/> does,
/// refuses what was tampered with, and goes on after a refusal.
/// </summary>
public sealed class OpenSslGcmAlgorithmTests
{
    [Fact]
    public void The_record_layer_uses_it_where_libcrypto_is()
    {
        // The suite runs on Linux with the system libcrypto: a failed self-test would fall back silently.
        Assert.True(OpenSslGcmAlgorithm.IsSupported);
        Assert.StartsWith("AES-GCM by libcrypto", RecordSuite.Providers, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(16)]
    [InlineData(32)]
    public void Record_after_record_it_agrees_with_AesGcm_and_refuses_tampering(int keyLength)
    {
        byte[] key = RandomNumberGenerator.GetBytes(keyLength);
        using var sealer = new OpenSslGcmAlgorithm(key);
        using var opener = new OpenSslGcmAlgorithm(key);
        using var dotnet = new AesGcm(key, 16);
        for (int record = 0; record < 6; record++)
        {
            byte[] nonce = RandomNumberGenerator.GetBytes(12), ad = RandomNumberGenerator.GetBytes(13);
            byte[] plaintext = RandomNumberGenerator.GetBytes(record * 300);
            byte[] ciphertext = new byte[plaintext.Length], tag = new byte[16];
            byte[] expected = new byte[plaintext.Length], expectedTag = new byte[16];

            sealer.Encrypt(nonce, plaintext, ciphertext, tag, ad);
            dotnet.Encrypt(nonce, plaintext, expected, expectedTag, ad);
            Assert.Equal(expected, ciphertext);
            Assert.Equal(expectedTag, tag);

            byte[] opened = new byte[plaintext.Length];
            ad[0] ^= 1;
            Assert.False(opener.TryDecrypt(nonce, ciphertext, tag, opened, ad));
            ad[0] ^= 1;
            Assert.True(opener.TryDecrypt(nonce, ciphertext, tag, opened, ad));
            Assert.Equal(plaintext, opened);

            // One instance both ways (re-keyed for the other direction), as the self-test uses it.
            Assert.True(sealer.TryDecrypt(nonce, ciphertext, tag, opened, ad));
        }
    }
}
