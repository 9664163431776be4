namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>One option of a message (RFC 7252 §3.1, §5.4): its number and its value's bytes.</summary>
internal readonly record struct CoapOption(int Number, byte[] Value)
{
    /// <summary>An option whose value is a string (Uri-Path, Uri-Query, Uri-Host: UTF-8).</summary>
    public static CoapOption String(int number, string value) => new(number, System.Text.Encoding.UTF8.GetBytes(value));

    /// <summary>An option whose value is an unsigned integer, in as few bytes as it takes (0 takes none; RFC 7252 §3.2).</summary>
    public static CoapOption UInt(int number, uint value)
    {
        int length = value == 0 ? 0 : (32 - System.Numerics.BitOperations.LeadingZeroCount(value) + 7) / 8;
        var bytes = new byte[length];
        for (int i = length - 1; i >= 0; i--, value >>= 8)
        {
            bytes[i] = (byte)value;
        }

        return new CoapOption(number, bytes);
    }

    /// <summary>The value read as an unsigned integer (big-endian; a sender may have used more bytes than needed).</summary>
    public uint AsUInt()
    {
        uint value = 0;
        foreach (byte b in Value)
        {
            value = (value << 8) | b;
        }

        return value;
    }

    public string AsString() => System.Text.Encoding.UTF8.GetString(Value);
}
