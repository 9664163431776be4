using System.Buffers.Binary;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The record header reader (RFC 6347 §4.1, RFC 9146 §4): every field of a well-formed record, records one after
/// another in a datagram, and the refusals — truncated header, lying length, not DTLS, a CID record where none was
/// negotiated or truncated inside its CID.
/// </summary>
public sealed class DtlsRecordTests
{
    // type 23, DTLS 1.2, epoch 0x0102, sequence 0x0123_4567_89AB (above 2^32), length 3, fragment AA BB CC.
    private static readonly byte[] s_applicationRecord =
    [
        0x17, 0xFE, 0xFD, 0x01, 0x02, 0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0x00, 0x03, 0xAA, 0xBB, 0xCC,
    ];

    [Fact]
    public void A_well_formed_record_exposes_every_header_field_and_its_fragment()
    {
        Assert.True(DtlsRecord.TryRead(s_applicationRecord, out var record));

        Assert.Equal(DtlsContentType.ApplicationData, record.ContentType);
        Assert.Equal(0xFEFD, record.Version);
        Assert.Equal(0x0102, record.Epoch);
        Assert.Equal(0x0123_4567_89ABL, record.SequenceNumber);
        Assert.True(record.SequenceNumber > uint.MaxValue);
        Assert.Equal(0x0102_0123_4567_89ABL, record.EpochAndSequence);
        Assert.Equal(13, record.HeaderSize);
        Assert.Equal(s_applicationRecord[..13], record.Header.ToArray());
        Assert.Equal(new byte[] { 0xAA, 0xBB, 0xCC }, record.Fragment.ToArray());
        Assert.Equal(s_applicationRecord, record.Whole.ToArray());
        Assert.True(record.ConnectionId.IsEmpty);
    }

    [Fact]
    public void Bytes_after_the_record_are_not_part_of_it()
    {
        byte[] input = [.. s_applicationRecord, 0x99, 0x98];

        Assert.True(DtlsRecord.TryRead(input, out var record));

        Assert.Equal(s_applicationRecord.Length, record.Whole.Length);
        Assert.Equal(new byte[] { 0xAA, 0xBB, 0xCC }, record.Fragment.ToArray());
    }

    [Fact]
    public void Two_records_in_one_datagram_are_read_one_after_the_other()
    {
        var first = Record(DtlsContentType.Handshake, epoch: 0, sequence: 7, [1, 2, 3, 4]);
        var second = Record(DtlsContentType.Alert, epoch: 1, sequence: 8, [5, 6]);
        byte[] datagram = [.. first, .. second];

        Assert.True(DtlsRecord.TryRead(datagram, out var one));
        Assert.Equal(DtlsContentType.Handshake, one.ContentType);
        Assert.Equal(7, one.SequenceNumber);
        Assert.Equal(new byte[] { 1, 2, 3, 4 }, one.Fragment.ToArray());
        Assert.Equal(first.Length, one.Whole.Length);

        var rest = datagram.AsSpan(one.Whole.Length);
        Assert.True(DtlsRecord.TryRead(rest, out var two));
        Assert.Equal(DtlsContentType.Alert, two.ContentType);
        Assert.Equal(1, two.Epoch);
        Assert.Equal(8, two.SequenceNumber);
        Assert.Equal(new byte[] { 5, 6 }, two.Fragment.ToArray());
        Assert.Equal(rest.Length, two.Whole.Length);
    }

    [Fact]
    public void A_record_with_an_empty_fragment_is_read()
    {
        var datagram = Record(DtlsContentType.ApplicationData, epoch: 1, sequence: 1, []);

        Assert.True(DtlsRecord.TryRead(datagram, out var record));

        Assert.True(record.Fragment.IsEmpty);
        Assert.Equal(13, record.Whole.Length);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    [InlineData(5)]
    [InlineData(6)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(9)]
    [InlineData(10)]
    [InlineData(11)]
    [InlineData(12)]
    public void A_truncated_header_is_refused(int length)
    {
        // A header declaring an empty fragment: only its own truncation can make it fail.
        var datagram = Record(DtlsContentType.ApplicationData, epoch: 1, sequence: 1, []);

        Assert.False(DtlsRecord.TryRead(datagram.AsSpan(0, length), out _));
    }

    [Fact]
    public void A_length_one_larger_than_the_bytes_present_is_refused()
    {
        var datagram = Record(DtlsContentType.ApplicationData, epoch: 1, sequence: 1, [1, 2, 3], declaredLength: 4);

        Assert.False(DtlsRecord.TryRead(datagram, out _));
    }

    [Fact]
    public void A_length_that_covers_exactly_the_bytes_present_is_accepted()
    {
        var datagram = Record(DtlsContentType.ApplicationData, epoch: 1, sequence: 1, [1, 2, 3], declaredLength: 3);

        Assert.True(DtlsRecord.TryRead(datagram, out var record));
        Assert.Equal(3, record.Fragment.Length);
    }

    [Theory]
    [InlineData(0x0303)] // TLS 1.2
    [InlineData(0x0301)] // TLS 1.0
    [InlineData(0xFDFD)]
    [InlineData(0x0000)]
    public void A_non_dtls_major_version_is_refused(int version)
    {
        var datagram = Record(DtlsContentType.Handshake, epoch: 0, sequence: 0, [1, 2, 3], version: (ushort)version);

        Assert.False(DtlsRecord.TryRead(datagram, out _));
    }

    [Fact]
    public void Dtls_1_0_is_read_as_dtls()
    {
        var datagram = Record(DtlsContentType.Handshake, epoch: 0, sequence: 0, [1], version: 0xFEFF);

        Assert.True(DtlsRecord.TryRead(datagram, out var record));
        Assert.Equal(0xFEFF, record.Version);
    }

    [Fact]
    public void A_cid_record_is_refused_when_no_connection_id_was_negotiated()
    {
        var datagram = CidRecord(epoch: 1, sequence: 5, connectionId: [], [1, 2, 3]);

        Assert.False(DtlsRecord.TryRead(datagram, out _));
        Assert.False(DtlsRecord.TryRead(datagram, out _, connectionIdLength: 0));
    }

    [Fact]
    public void A_cid_record_carries_its_connection_id_between_the_sequence_number_and_the_length()
    {
        var datagram = CidRecord(epoch: 1, sequence: 5, connectionId: [0xC1, 0xC2, 0xC3, 0xC4], [1, 2, 3]);

        Assert.True(DtlsRecord.TryRead(datagram, out var record, connectionIdLength: 4));

        Assert.Equal(DtlsContentType.Tls12Cid, record.ContentType);
        Assert.Equal(1, record.Epoch);
        Assert.Equal(5, record.SequenceNumber);
        Assert.Equal(new byte[] { 0xC1, 0xC2, 0xC3, 0xC4 }, record.ConnectionId.ToArray());
        Assert.Equal(17, record.HeaderSize);
        Assert.Equal(datagram[..17], record.Header.ToArray());
        Assert.Equal(new byte[] { 1, 2, 3 }, record.Fragment.ToArray());
        Assert.Equal(datagram.Length, record.Whole.Length);
    }

    [Fact]
    public void The_connection_id_length_applies_to_cid_records_only()
    {
        var datagram = Record(DtlsContentType.ApplicationData, epoch: 1, sequence: 5, [1, 2, 3]);

        Assert.True(DtlsRecord.TryRead(datagram, out var record, connectionIdLength: 4));

        Assert.Equal(13, record.HeaderSize);
        Assert.True(record.ConnectionId.IsEmpty);
        Assert.Equal(new byte[] { 1, 2, 3 }, record.Fragment.ToArray());
    }

    [Theory]
    [InlineData(13)]
    [InlineData(15)]
    [InlineData(16)]
    public void A_cid_record_truncated_inside_its_header_is_refused(int length)
    {
        // Empty fragment: the full header (17 bytes) is the whole record.
        var datagram = CidRecord(epoch: 1, sequence: 5, connectionId: [0xC1, 0xC2, 0xC3, 0xC4], []);
        Assert.True(DtlsRecord.TryRead(datagram, out _, connectionIdLength: 4));

        Assert.False(DtlsRecord.TryRead(datagram.AsSpan(0, length), out _, connectionIdLength: 4));
    }

    [Fact]
    public void A_cid_record_whose_length_runs_past_the_input_is_refused()
    {
        var datagram = CidRecord(epoch: 1, sequence: 5, connectionId: [0xC1, 0xC2, 0xC3, 0xC4], [1, 2, 3], declaredLength: 4);

        Assert.False(DtlsRecord.TryRead(datagram, out _, connectionIdLength: 4));
    }

    private static byte[] Record(DtlsContentType type, ushort epoch, long sequence, byte[] fragment,
        int? declaredLength = null, ushort version = 0xFEFD)
    {
        var record = new byte[13 + fragment.Length];
        record[0] = (byte)type;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(1), version);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), epoch);
        WriteUInt48(record.AsSpan(5), sequence);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(11), (ushort)(declaredLength ?? fragment.Length));
        fragment.CopyTo(record, 13);
        return record;
    }

    /// <summary>type 25, version, epoch, sequence, connection id, length, fragment (RFC 9146 §4).</summary>
    private static byte[] CidRecord(ushort epoch, long sequence, byte[] connectionId, byte[] fragment, int? declaredLength = null)
    {
        var record = new byte[13 + connectionId.Length + fragment.Length];
        record[0] = (byte)DtlsContentType.Tls12Cid;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(1), 0xFEFD);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), epoch);
        WriteUInt48(record.AsSpan(5), sequence);
        connectionId.CopyTo(record, 11);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(11 + connectionId.Length), (ushort)(declaredLength ?? fragment.Length));
        fragment.CopyTo(record, 13 + connectionId.Length);
        return record;
    }

    private static void WriteUInt48(Span<byte> destination, long value)
    {
        for (int i = 0; i < 6; i++)
        {
            destination[i] = (byte)(value >> (8 * (5 - i)));
        }
    }
}
