using System.Formats.Asn1;
using System.Numerics;
using System.Security.Cryptography;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>r ‖ s to DER, against .NET's ASN.1 writer and .NET's verifier.</summary>
public sealed class EcdsaSignatureDerTests
{
    [Theory]
    [InlineData("nistP256")]
    [InlineData("nistP384")]
    [InlineData("nistP521")]
    public void Real_signatures_encode_as_the_ASN1_writer_does_and_verify(string curve)
    {
        using var key = ECDsa.Create(ECCurve.CreateFromFriendlyName(curve));
        for (int i = 0; i < 200; i++)
        {
            byte[] hash = RandomNumberGenerator.GetBytes(32);
            byte[] fixedSize = key.SignHash(hash, DSASignatureFormat.IeeeP1363FixedFieldConcatenation);
            byte[] der = EcdsaSignatureDer.FromFixedSize(fixedSize);
            Assert.Equal(Reference(fixedSize), der);
            Assert.True(key.VerifyHash(hash, der, DSASignatureFormat.Rfc3279DerSequence));
        }
    }

    [Theory]
    [InlineData("00000000000000000000000000000000")] // both zero: one zero byte each
    [InlineData("0000000180000000000000000000007f")] // leading zeros dropped; r's top bit set after them
    [InlineData("ff00000000000000ff00000000000000")] // both need a zero byte before them
    [InlineData("00ff00000000000000000000000000ff")]
    public void Edge_values_keep_minimal_integers_and_a_zero_before_a_set_top_bit(string fixedHex)
    {
        byte[] fixedSize = Convert.FromHexString(fixedHex);
        Assert.Equal(Reference(fixedSize), EcdsaSignatureDer.FromFixedSize(fixedSize));
    }

    [Fact]
    public void An_odd_or_empty_input_is_refused()
    {
        Assert.Throws<ArgumentException>(() => EcdsaSignatureDer.FromFixedSize([1, 2, 3]));
        Assert.Throws<ArgumentException>(() => EcdsaSignatureDer.FromFixedSize([]));
    }

    private static byte[] Reference(byte[] fixedSize)
    {
        int half = fixedSize.Length / 2;
        var writer = new AsnWriter(AsnEncodingRules.DER);
        using (writer.PushSequence())
        {
            writer.WriteInteger(new BigInteger(fixedSize.AsSpan(0, half), isUnsigned: true, isBigEndian: true));
            writer.WriteInteger(new BigInteger(fixedSize.AsSpan(half), isUnsigned: true, isBigEndian: true));
        }

        return writer.Encode();
    }
}
