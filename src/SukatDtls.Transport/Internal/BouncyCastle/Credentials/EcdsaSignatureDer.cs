namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// An ECDSA signature from r ‖ s (IEEE P1363, fixed size) to the DER <c>ECDSA-Sig-Value</c> TLS 1.2 carries
/// (RFC 4492 §5.4: SEQUENCE { INTEGER r, INTEGER s }). .NET's DER output goes through an AsnWriter with a 1 KB buffer:
/// 1.5 KB allocated per signature against 0.1 KB for the fixed-size one (measured), for the one signature every full
/// handshake makes.
/// </summary>
internal static class EcdsaSignatureDer
{
    /// <param name="fixedSize">r then s, each of the curve's size, big-endian (P-256: 64 bytes; P-521: 132).</param>
    public static byte[] FromFixedSize(ReadOnlySpan<byte> fixedSize)
    {
        if (fixedSize.Length == 0 || fixedSize.Length % 2 != 0)
        {
            throw new ArgumentException($"An r ‖ s signature has an even, non-zero length, not {fixedSize.Length}.", nameof(fixedSize));
        }

        var r = Minimal(fixedSize[..(fixedSize.Length / 2)]);
        var s = Minimal(fixedSize[(fixedSize.Length / 2)..]);
        int content = 2 + EncodedLength(r) + 2 + EncodedLength(s); // each INTEGER is shorter than 128 bytes (P-521: at most 67)
        bool longForm = content > 127;
        byte[] der = new byte[(longForm ? 3 : 2) + content];

        int position = 0;
        der[position++] = 0x30; // SEQUENCE
        if (longForm)
        {
            der[position++] = 0x81;
        }

        der[position++] = (byte)content;
        position = WriteInteger(der, position, r);
        WriteInteger(der, position, s);
        return der;
    }

    /// <summary>The integer without leading zero bytes (at least one byte).</summary>
    private static ReadOnlySpan<byte> Minimal(ReadOnlySpan<byte> value)
    {
        int start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        return value[start..];
    }

    /// <summary>Whether DER needs a 0x00 before the integer: its top bit is set, and DER integers are signed.</summary>
    private static bool NeedsPad(ReadOnlySpan<byte> minimal) => (minimal[0] & 0x80) != 0;

    private static int EncodedLength(ReadOnlySpan<byte> minimal) => minimal.Length + (NeedsPad(minimal) ? 1 : 0);

    private static int WriteInteger(byte[] der, int position, ReadOnlySpan<byte> minimal)
    {
        der[position++] = 0x02; // INTEGER
        der[position++] = (byte)EncodedLength(minimal);
        if (NeedsPad(minimal))
        {
            der[position++] = 0;
        }

        minimal.CopyTo(der.AsSpan(position));
        return position + minimal.Length;
    }
}
