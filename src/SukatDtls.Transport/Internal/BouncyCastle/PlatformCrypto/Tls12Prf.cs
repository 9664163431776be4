using System.Buffers;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// The TLS 1.2 PRF (RFC 5246 §5): P_hash(secret, label + seed) on <see cref="PlatformHmac"/>, without allocating. A full
/// handshake runs it four times (master secret, key block twice, each Finished); BouncyCastle's own builds an HMAC, two
/// platform digest contexts and their buffers each time.
/// </summary>
internal static class Tls12Prf
{
    private const int StackLimit = 256;

    /// <param name="sha384">SHA-384 (suites with SHA384 in their name) rather than SHA-256.</param>
    /// <param name="secret">The secret (the PRF's HMAC key).</param>
    /// <param name="label">An ASCII label, e.g. "key expansion".</param>
    /// <param name="seed">The seed, e.g. the two randoms.</param>
    /// <param name="output">Filled with PRF output.</param>
    public static void Compute(bool sha384, ReadOnlySpan<byte> secret, ReadOnlySpan<char> label, ReadOnlySpan<byte> seed, Span<byte> output)
    {
        int hashLength = sha384 ? HMACSHA384.HashSizeInBytes : HMACSHA256.HashSizeInBytes;

        // A(i) followed by label + seed: HMAC(secret, A(i) + label + seed) is each block of output.
        int length = hashLength + label.Length + seed.Length;
        byte[]? rented = length > StackLimit ? ArrayPool<byte>.Shared.Rent(length) : null;
        Span<byte> buffer = (rented ?? stackalloc byte[StackLimit])[..length];
        Span<byte> block = stackalloc byte[HMACSHA384.HashSizeInBytes];
        try
        {
            var a = buffer[..hashLength];
            var labelSeed = buffer[hashLength..];
            for (int i = 0; i < label.Length; i++)
            {
                labelSeed[i] = (byte)label[i];
            }

            seed.CopyTo(labelSeed[label.Length..]);

            Hmac(sha384, secret, labelSeed, a); // A(1)
            for (int position = 0; position < output.Length; position += hashLength)
            {
                var produced = block[..hashLength];
                Hmac(sha384, secret, buffer, produced);
                int take = Math.Min(hashLength, output.Length - position);
                produced[..take].CopyTo(output[position..]);
                if (position + take < output.Length)
                {
                    Hmac(sha384, secret, a, produced); // A(i + 1), through a copy: source and destination may not overlap
                    produced.CopyTo(a);
                }
            }
        }
        finally
        {
            CryptographicOperations.ZeroMemory(buffer);
            CryptographicOperations.ZeroMemory(block);
            if (rented is not null)
            {
                ArrayPool<byte>.Shared.Return(rented);
            }
        }
    }

    private static void Hmac(bool sha384, ReadOnlySpan<byte> key, ReadOnlySpan<byte> source, Span<byte> destination)
    {
        int written = PlatformHmac.Compute(sha384, key, source, destination);
        System.Diagnostics.Debug.Assert(written == destination.Length);
    }
}
