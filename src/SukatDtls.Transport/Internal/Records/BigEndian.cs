using System.Buffers.Binary;

namespace SukatDtls.Transport.Internal;

/// <summary>The 24- and 48-bit big-endian integers of the DTLS wire format (lengths, offsets, sequence numbers).</summary>
internal static class BigEndian
{
    public static int ReadUInt24(ReadOnlySpan<byte> source) => (source[0] << 16) | (source[1] << 8) | source[2];

    public static void WriteUInt24(Span<byte> destination, int value)
    {
        destination[2] = (byte)value;
        destination[1] = (byte)(value >> 8);
        destination[0] = (byte)(value >> 16);
    }

    public static long ReadUInt48(ReadOnlySpan<byte> source) =>
        ((long)BinaryPrimitives.ReadUInt16BigEndian(source) << 32) | BinaryPrimitives.ReadUInt32BigEndian(source[2..]);

    public static void WriteUInt48(Span<byte> destination, long value)
    {
        BinaryPrimitives.WriteUInt32BigEndian(destination[2..], (uint)value);
        BinaryPrimitives.WriteUInt16BigEndian(destination, (ushort)(value >> 32));
    }
}
