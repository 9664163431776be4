using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Cookie keys that every node with the same secret derives alike (<see cref="DtlsTransportOptions.CookieSecret"/>):
/// the key of period <c>p</c> (Unix time divided by the rotation interval) is HMAC-SHA256(secret, label || interval ||
/// p). Nodes need no coordination to rotate in step, only clocks that agree and the same interval.
/// </summary>
internal sealed class SharedCookieKeys(byte[] secret, TimeSpan interval)
{
    private static readonly byte[] s_label = "SukatDtls cookie key v1"u8.ToArray();

    private readonly byte[] _secret = (byte[])secret.Clone();
    private readonly long _intervalMillis = Math.Max(1, (long)interval.TotalMilliseconds);

    /// <summary>The number of the rotation period that <paramref name="now"/> falls in.</summary>
    public long PeriodAt(DateTimeOffset now) => now.ToUnixTimeMilliseconds() / _intervalMillis;

    /// <summary>The period's key, for HMAC-SHA256: the same on every node with the secret.</summary>
    public byte[] KeyOf(long period)
    {
        Span<byte> input = stackalloc byte[s_label.Length + 16];
        s_label.CopyTo(input);
        BinaryPrimitives.WriteInt64BigEndian(input[s_label.Length..], _intervalMillis);
        BinaryPrimitives.WriteInt64BigEndian(input[(s_label.Length + 8)..], period);
        return HMACSHA256.HashData(_secret, input);
    }

    /// <summary>The period's key, with BouncyCastle's verifier of it.</summary>
    public CookieKey CreateVerifier(long period) => CookieKey.From(KeyOf(period));
}
