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

        var r = Minimal(fixedSize[..(fixedSize.Length / 2)], out bool rPad);
        var s = Minimal(fixedSize[(fixedSize.Length / 2)..], out bool sPad);
        int rLength = r.Length + (rPad ? 1 : 0);
        int sLength = s.Length + (sPad ? 1 : 0);
        int content = 2 + rLength + 2 + sLength; // each INTEGER is shorter than 128 bytes (P-521: at most 67)
        bool longForm = content > 127;
        byte[] der = new byte[(longForm ? 3 : 2) + content];

        int position = 0;
        der[position++] = 0x30; // SEQUENCE
        if (longForm)
        {
            der[position++] = 0x81;
        }

        der[position++] = (byte)content;
        position = WriteInteger(der, position, r, rPad);
        WriteInteger(der, position, s, sPad);
        return der;
    }

    /// <summary>The integer without leading zero bytes (at least one byte), and whether DER needs a 0x00 before it (top bit set).</summary>
    private static ReadOnlySpan<byte> Minimal(ReadOnlySpan<byte> value, out bool pad)
    {
        int start = 0;
        while (start < value.Length - 1 && value[start] == 0)
        {
            start++;
        }

        var minimal = value[start..];
        pad = (minimal[0] & 0x80) != 0;
        return minimal;
    }

    private static int WriteInteger(byte[] der, int position, ReadOnlySpan<byte> value, bool pad)
    {
        der[position++] = 0x02; // INTEGER
        der[position++] = (byte)(value.Length + (pad ? 1 : 0));
        if (pad)
        {
            der[position++] = 0;
        }

        value.CopyTo(der.AsSpan(position));
        return position + value.Length;
    }
}
