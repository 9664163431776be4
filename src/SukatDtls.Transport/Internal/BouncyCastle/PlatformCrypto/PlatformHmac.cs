using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// HMAC-SHA256 and HMAC-SHA384 (RFC 2104) on a per-thread platform hash context, reused: for the TLS PRF (about a dozen
/// HMACs per full handshake) and the HelloVerifyRequest cookie.
/// </summary>
/// <remarks>
/// Why not <see cref="HMACSHA256.HashData(ReadOnlySpan{byte}, ReadOnlySpan{byte}, Span{byte})"/>: on OpenSSL 3 its
/// one-shot (<c>HMAC()</c>, that is <c>EVP_Q_mac</c>) looks the MAC and its digest up by name in the provider store at
/// every call — a lock, a hash table and string compares, several times the cost of hashing the few blocks a PRF step
/// has. Here the digest is looked up once per thread, when its context is made, and each HMAC is two hashes on it.
/// </remarks>
internal static class PlatformHmac
{
    private const int MaxBlockSize = 128;
    private const int MaxHashSize = 48;

    [ThreadStatic]
    private static IncrementalHash? t_sha256;

    [ThreadStatic]
    private static IncrementalHash? t_sha384;

    /// <summary>Writes HMAC(<paramref name="key"/>, <paramref name="source"/>) to <paramref name="destination"/>; returns its length (32 or 48).</summary>
    /// <param name="sha384">HMAC-SHA384 rather than HMAC-SHA256.</param>
    /// <param name="key">The key, of any length.</param>
    /// <param name="source">The data.</param>
    /// <param name="destination">At least the hash's length; it may overlap neither input.</param>
    public static int Compute(bool sha384, ReadOnlySpan<byte> key, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int blockSize = sha384 ? 128 : 64;
        int hashSize = sha384 ? 48 : 32;
        ArgumentOutOfRangeException.ThrowIfLessThan(destination.Length, hashSize);
        var hash = sha384
            ? t_sha384 ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA384)
            : t_sha256 ??= IncrementalHash.CreateHash(HashAlgorithmName.SHA256);

        Span<byte> pad = stackalloc byte[MaxBlockSize];
        Span<byte> hashed = stackalloc byte[MaxHashSize];
        pad = pad[..blockSize];
        hashed = hashed[..hashSize];
        try
        {
            // A key longer than a block is hashed first (RFC 2104 §2); a shorter one is padded with zeros.
            pad.Clear();
            if (key.Length > blockSize)
            {
                hash.AppendData(key);
                hash.GetHashAndReset(pad);
            }
            else
            {
                key.CopyTo(pad);
            }

            Xor(pad, 0x36);
            hash.AppendData(pad);
            hash.AppendData(source);
            hash.GetHashAndReset(hashed);

            Xor(pad, 0x36 ^ 0x5C);
            hash.AppendData(pad);
            hash.AppendData(hashed);
            hash.GetHashAndReset(destination[..hashSize]);
            return hashSize;
        }
        catch
        {
            // Whatever the context holds now is half an HMAC: the thread makes a new one next time.
            if (sha384)
            {
                t_sha384 = null;
            }
            else
            {
                t_sha256 = null;
            }

            hash.Dispose();
            throw;
        }
        finally
        {
            CryptographicOperations.ZeroMemory(pad);
            CryptographicOperations.ZeroMemory(hashed);
        }
    }

    private static void Xor(Span<byte> block, byte value)
    {
        for (int i = 0; i < block.Length; i++)
        {
            block[i] ^= value;
        }
    }
}
