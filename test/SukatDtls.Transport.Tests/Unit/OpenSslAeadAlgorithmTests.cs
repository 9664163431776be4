using System.Security.Cryptography;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// AES-GCM and ChaCha20-Poly1305 on libcrypto's EVP context (<see cref="OpenSslAeadAlgorithm"/>), keyed once per
/// direction: they are what the record layer uses here, and record after record on one instance they compute what
/// .NET's <see cref="AesGcm"/> and <see cref="ChaCha20Poly1305"/> do, refuse what was tampered with, and go on after a
/// refusal.
/// </summary>
public sealed class OpenSslAeadAlgorithmTests
{
    [Fact]
    public void The_record_layer_uses_it_where_libcrypto_is()
    {
        // The suite runs on Linux with the system libcrypto: a failed self-test would fall back silently.
        Assert.True(OpenSslAeadAlgorithm.IsSupported(RecordAeadKind.AesGcm));
        Assert.True(OpenSslAeadAlgorithm.IsSupported(RecordAeadKind.ChaCha20Poly1305));
        Assert.StartsWith("AES-GCM by libcrypto (libcrypto.so.3), ChaCha20-Poly1305 by libcrypto", RecordSuite.Providers, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("AES-GCM", 16)]
    [InlineData("AES-GCM", 32)]
    [InlineData("ChaCha20-Poly1305", 32)]
    public void Record_after_record_it_agrees_with_dotnet_and_refuses_tampering(string algorithm, int keyLength)
    {
        var kind = algorithm == "AES-GCM" ? RecordAeadKind.AesGcm : RecordAeadKind.ChaCha20Poly1305;
        byte[] key = RandomNumberGenerator.GetBytes(keyLength);
        using var sealer = new OpenSslAeadAlgorithm(kind, key);
        using var opener = new OpenSslAeadAlgorithm(kind, key);
        using IDisposable dotnet = kind == RecordAeadKind.AesGcm ? new AesGcm(key, 16) : new ChaCha20Poly1305(key);
        for (int record = 0; record < 6; record++)
        {
            byte[] nonce = RandomNumberGenerator.GetBytes(12), ad = RandomNumberGenerator.GetBytes(13);
            byte[] plaintext = RandomNumberGenerator.GetBytes(record * 300);
            byte[] ciphertext = new byte[plaintext.Length], tag = new byte[16];
            byte[] expected = new byte[plaintext.Length], expectedTag = new byte[16];

            sealer.Encrypt(nonce, plaintext, ciphertext, tag, ad);
            if (dotnet is AesGcm gcm)
            {
                gcm.Encrypt(nonce, plaintext, expected, expectedTag, ad);
            }
            else
            {
                ((ChaCha20Poly1305)dotnet).Encrypt(nonce, plaintext, expected, expectedTag, ad);
            }

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
