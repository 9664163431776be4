using System.Security.Cryptography;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// AES-GCM and ChaCha20-Poly1305 on libcrypto's EVP contexts (<see cref="OpenSslAeadAlgorithm"/>), one per thread and
/// direction, shared by every connection's ciphers: they are what the record layer uses here, and record after record
/// — one instance alone, or many interleaved on one thread, or one moving between threads — they compute what .NET's
/// <see cref="AesGcm"/>, <see cref="ChaCha20Poly1305"/> and <see cref="AesCcm"/> do, refuse what was tampered with,
/// and go on after a refusal.
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

    [Fact]
    public void Ciphers_of_many_connections_interleaved_on_one_thread_each_use_their_own_key()
    {
        // Each seals and opens on one of the thread's few contexts for the direction: whichever keyed it last (the same
        // cipher under another key, another cipher, itself), the record must be under the cipher's own key. More
        // ciphers than the thread keeps contexts, so some come back to a context another one re-keyed.
        const int aes128 = 6;
        var keys = new List<byte[]>();
        var ours = new List<AeadAlgorithm>();
        for (int i = 0; i < aes128; i++)
        {
            keys.Add(RandomNumberGenerator.GetBytes(16));
            ours.Add(new OpenSslAeadAlgorithm(RecordAeadKind.AesGcm, keys[i]));
        }

        keys.AddRange([RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(32), RandomNumberGenerator.GetBytes(16)]);
        ours.AddRange([new OpenSslAeadAlgorithm(RecordAeadKind.AesGcm, keys[6]), new OpenSslAeadAlgorithm(RecordAeadKind.ChaCha20Poly1305, keys[7]), new OpenSslCcmAlgorithm(keys[8], 16)]);
        Assert.True(ours.Count > OpenSslThreadCipherContexts.ContextsPerDirection);
        try
        {
            int[] order = [0, 1, 0, 0, 2, 3, 4, 5, 0, 1, 6, 1, 7, 0, 8, 1, 8, 2, 7, 7, 0, 5, 4, 3, 2, 1, 0, 6, 6, 8];
            foreach (int i in order)
            {
                byte[] nonce = RandomNumberGenerator.GetBytes(12), ad = RandomNumberGenerator.GetBytes(13), plaintext = RandomNumberGenerator.GetBytes(100);
                byte[] ciphertext = new byte[100], tag = new byte[16], expected = new byte[100], expectedTag = new byte[16];
                ours[i].Encrypt(nonce, plaintext, ciphertext, tag, ad);
                DotnetEncrypt(i, keys[i], nonce, plaintext, expected, expectedTag, ad);
                Assert.Equal(expected, ciphertext);
                Assert.Equal(expectedTag, tag);

                // Opened by a cipher with another key first (refused), then by its own.
                byte[] opened = new byte[100];
                Assert.False(ours[(i + 1) % ours.Count].TryDecrypt(nonce, ciphertext, tag, opened, ad));
                Assert.True(ours[i].TryDecrypt(nonce, ciphertext, tag, opened, ad));
                Assert.Equal(plaintext, opened);
            }
        }
        finally
        {
            foreach (var algorithm in ours)
            {
                algorithm.Dispose();
            }
        }

        static void DotnetEncrypt(int i, byte[] key, byte[] nonce, byte[] plaintext, byte[] ciphertext, byte[] tag, byte[] ad)
        {
            if (i <= aes128)
            {
                using var gcm = new AesGcm(key, 16);
                gcm.Encrypt(nonce, plaintext, ciphertext, tag, ad);
            }
            else if (i == aes128 + 1)
            {
                using var chacha = new ChaCha20Poly1305(key);
                chacha.Encrypt(nonce, plaintext, ciphertext, tag, ad);
            }
            else
            {
                using var ccm = new AesCcm(key);
                ccm.Encrypt(nonce, plaintext, ciphertext, tag, ad);
            }
        }
    }

    [Fact]
    public async Task A_cipher_moving_between_threads_keys_each_threads_context()
    {
        byte[] key = RandomNumberGenerator.GetBytes(16);
        using var sealer = new OpenSslAeadAlgorithm(RecordAeadKind.AesGcm, key);
        using var opener = new OpenSslAeadAlgorithm(RecordAeadKind.AesGcm, key);
        using var other = new OpenSslAeadAlgorithm(RecordAeadKind.AesGcm, RandomNumberGenerator.GetBytes(16));
        for (int record = 0; record < 4; record++)
        {
            byte[] nonce = RandomNumberGenerator.GetBytes(12), plaintext = RandomNumberGenerator.GetBytes(64);
            byte[] ciphertext = new byte[64], tag = new byte[16], opened = new byte[64];

            // Sealed on a thread of its own whose contexts another cipher keyed first, opened on this one.
            var thread = new Thread(() =>
            {
                other.Encrypt(nonce, plaintext, new byte[64], new byte[16], []);
                sealer.Encrypt(nonce, plaintext, ciphertext, tag, []);
            });
            thread.Start();
            await Task.Run(thread.Join);
            Assert.True(opener.TryDecrypt(nonce, ciphertext, tag, opened, []));
            Assert.Equal(plaintext, opened);
        }
    }

    [Fact]
    public void A_disposed_cipher_refuses_records_though_the_threads_context_still_holds_its_key()
    {
        byte[] key = RandomNumberGenerator.GetBytes(16), nonce = RandomNumberGenerator.GetBytes(12);
        var sealer = new OpenSslAeadAlgorithm(RecordAeadKind.AesGcm, key);
        sealer.Encrypt(nonce, new byte[10], new byte[10], new byte[16], []);
        sealer.Dispose();
        Assert.Throws<ObjectDisposedException>(() => sealer.Encrypt(nonce, new byte[10], new byte[10], new byte[16], []));
        Assert.Throws<ObjectDisposedException>(() => sealer.TryDecrypt(nonce, new byte[10], new byte[16], new byte[10], []));
    }
}
