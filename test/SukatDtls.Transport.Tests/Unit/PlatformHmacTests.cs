using System.Security.Cryptography;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>Our HMAC on a reused per-thread hash context against RFC 4231's vectors and .NET's one-shot HMAC.</summary>
public sealed class PlatformHmacTests
{
    [Fact]
    public void Matches_RFC_4231_test_cases_1_and_6()
    {
        // Test case 1: a 20-byte key; test case 6: a 131-byte key, longer than either hash's block (hashed first).
        byte[] key1 = Enumerable.Repeat((byte)0x0b, 20).ToArray();
        byte[] data1 = "Hi There"u8.ToArray();
        Assert.Equal("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7", Hmac(false, key1, data1));
        Assert.Equal("afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6", Hmac(true, key1, data1));

        byte[] key6 = Enumerable.Repeat((byte)0xaa, 131).ToArray();
        byte[] data6 = "Test Using Larger Than Block-Size Key - Hash Key First"u8.ToArray();
        Assert.Equal("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", Hmac(false, key6, data6));
        Assert.Equal("4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952", Hmac(true, key6, data6));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Matches_dotnets_HMAC_for_keys_around_the_block_size_and_any_data(bool sha384)
    {
        foreach (int keyLength in new[] { 0, 1, 32, 48, 63, 64, 65, 127, 128, 129, 300 })
        {
            foreach (int dataLength in new[] { 0, 1, 55, 64, 111, 128, 1000 })
            {
                byte[] key = RandomNumberGenerator.GetBytes(keyLength);
                byte[] data = RandomNumberGenerator.GetBytes(dataLength);
                byte[] expected = sha384 ? HMACSHA384.HashData(key, data) : HMACSHA256.HashData(key, data);
                byte[] actual = new byte[expected.Length + 3];
                Assert.Equal(expected.Length, PlatformHmac.Compute(sha384, key, data, actual));
                Assert.Equal(expected, actual[..expected.Length]);
            }
        }
    }

    private static string Hmac(bool sha384, byte[] key, byte[] data)
    {
        byte[] mac = new byte[sha384 ? 48 : 32];
        PlatformHmac.Compute(sha384, key, data, mac);
        return Convert.ToHexStringLower(mac);
    }
}
