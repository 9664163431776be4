using System.Buffers.Binary;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The additional data of an AEAD record, and the header of a CBC record's MAC, in DTLS 1.2 (RFC 5246 §6.2.3.3 with
/// DTLS's 64-bit epoch and sequence number, RFC 6347 §4.1.2.1), and in the Connection ID form (RFC 9146 §5).
/// </summary>
internal static class RecordAdditionalData
{
    /// <summary>The longest: the Connection ID form with a 255-byte Connection ID.</summary>
    public const int MaxLength = 23 + 255;

    private const int SequencePlaceholderLength = 8;

    /// <summary>Writes the additional data and returns its length.</summary>
    /// <param name="destination">At least 13 bytes, or 23 plus the Connection ID with one.</param>
    /// <param name="epochAndSequence">The record's epoch (top 16 bits) and sequence number.</param>
    /// <param name="type">The record's type: the content's, or tls12_cid.</param>
    /// <param name="version">The record's version (DTLS 1.2: 0xFEFD).</param>
    /// <param name="connectionId">The record's Connection ID; empty for the plain form.</param>
    /// <param name="length">The length the form names: the plaintext's (AEAD, CBC MAC-then-encrypt) or the IV and ciphertext's (encrypt-then-MAC).</param>
    public static int Write(Span<byte> destination, long epochAndSequence, DtlsContentType type, ushort version, ReadOnlySpan<byte> connectionId, int length)
    {
        if (connectionId.IsEmpty)
        {
            // seq_num (8) | type | version | length
            BinaryPrimitives.WriteInt64BigEndian(destination, epochAndSequence);
            destination[8] = (byte)type;
            BinaryPrimitives.WriteUInt16BigEndian(destination[9..], version);
            BinaryPrimitives.WriteUInt16BigEndian(destination[11..], (ushort)length);
            return 13;
        }

        // seq_num_placeholder (8 x 0xff) | tls12_cid | cid_length | tls12_cid | version | epoch + seq (8) | cid | length
        destination[..SequencePlaceholderLength].Fill(0xFF);
        destination[8] = (byte)DtlsContentType.Tls12Cid;
        destination[9] = (byte)connectionId.Length;
        destination[10] = (byte)DtlsContentType.Tls12Cid;
        BinaryPrimitives.WriteUInt16BigEndian(destination[11..], version);
        BinaryPrimitives.WriteInt64BigEndian(destination[13..], epochAndSequence);
        connectionId.CopyTo(destination[21..]);
        BinaryPrimitives.WriteUInt16BigEndian(destination[(21 + connectionId.Length)..], (ushort)length);
        return 23 + connectionId.Length;
    }
}
