using System.Buffers.Binary;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The handshake header reader (RFC 6347 §4.2.2): a whole message, a middle fragment, several fragments in one record,
/// and the refusals — a header shorter than 12 bytes, a fragment running past the input, a fragment reaching beyond
/// the message.
/// </summary>
public sealed class DtlsHandshakeFragmentTests
{
    [Fact]
    public void A_whole_message_exposes_its_header_and_body()
    {
        // client_hello, length 5, message_seq 0x0102, offset 0, fragment length 5, body.
        byte[] input = [0x01, 0x00, 0x00, 0x05, 0x01, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, 0x05, 0x11, 0x22, 0x33, 0x44, 0x55];

        Assert.True(DtlsHandshakeFragment.TryRead(input, out var fragment));

        Assert.True(fragment.IsWholeMessage);
        Assert.Equal(DtlsHandshakeType.ClientHello, fragment.MessageType);
        Assert.Equal(5, fragment.MessageLength);
        Assert.Equal(0x0102, fragment.MessageSequence);
        Assert.Equal(0, fragment.FragmentOffset);
        Assert.Equal(new byte[] { 0x11, 0x22, 0x33, 0x44, 0x55 }, fragment.Body.ToArray());
        Assert.Equal(input.Length, fragment.TotalLength);
    }

    [Fact]
    public void A_middle_fragment_is_not_the_whole_message()
    {
        // Bytes 100..149 of a 70,000-byte certificate message (lengths above 16 bits).
        var body = Filled(50, 0x42);
        var input = Fragment(DtlsHandshakeType.Certificate, messageLength: 70_000, messageSequence: 3, offset: 100, body);

        Assert.True(DtlsHandshakeFragment.TryRead(input, out var fragment));

        Assert.False(fragment.IsWholeMessage);
        Assert.Equal(DtlsHandshakeType.Certificate, fragment.MessageType);
        Assert.Equal(70_000, fragment.MessageLength);
        Assert.Equal(3, fragment.MessageSequence);
        Assert.Equal(100, fragment.FragmentOffset);
        Assert.Equal(body, fragment.Body.ToArray());
        Assert.Equal(12 + 50, fragment.TotalLength);
    }

    [Fact]
    public void The_first_fragment_of_a_longer_message_is_not_the_whole_message()
    {
        var input = Fragment(DtlsHandshakeType.ClientHello, messageLength: 300, messageSequence: 0, offset: 0, Filled(100, 1));

        Assert.True(DtlsHandshakeFragment.TryRead(input, out var fragment));

        Assert.False(fragment.IsWholeMessage);
        Assert.Equal(0, fragment.FragmentOffset);
    }

    [Fact]
    public void The_last_fragment_reaching_exactly_the_message_end_is_accepted()
    {
        var input = Fragment(DtlsHandshakeType.ClientHello, messageLength: 300, messageSequence: 0, offset: 200, Filled(100, 1));

        Assert.True(DtlsHandshakeFragment.TryRead(input, out var fragment));

        Assert.Equal(200, fragment.FragmentOffset);
        Assert.Equal(100, fragment.Body.Length);
    }

    [Fact]
    public void A_fragment_whose_length_runs_past_the_input_is_refused()
    {
        var input = Fragment(DtlsHandshakeType.ClientHello, messageLength: 10, messageSequence: 0, offset: 0, Filled(10, 1));

        Assert.False(DtlsHandshakeFragment.TryRead(input.AsSpan(0, input.Length - 1), out _));
    }

    [Theory]
    [InlineData(200, 101)] // one byte past the end
    [InlineData(300, 1)] // starts at the end
    [InlineData(0, 301)]
    public void A_fragment_reaching_beyond_the_message_length_is_refused(int offset, int length)
    {
        var input = Fragment(DtlsHandshakeType.ClientHello, messageLength: 300, messageSequence: 0, offset, Filled(length, 1));

        Assert.False(DtlsHandshakeFragment.TryRead(input, out _));
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(6)]
    [InlineData(11)]
    public void Fewer_than_twelve_bytes_are_refused(int length)
    {
        // An empty message: the 12-byte header alone would be valid.
        var input = Fragment(DtlsHandshakeType.ClientHello, messageLength: 0, messageSequence: 0, offset: 0, []);
        Assert.True(DtlsHandshakeFragment.TryRead(input, out _));

        Assert.False(DtlsHandshakeFragment.TryRead(input.AsSpan(0, length), out _));
    }

    [Fact]
    public void Two_fragments_in_one_record_fragment_are_read_in_turn()
    {
        var first = Fragment(DtlsHandshakeType.ClientKeyExchange, messageLength: 3, messageSequence: 2, offset: 0, [7, 8, 9]);
        var second = Fragment(DtlsHandshakeType.CertificateVerify, messageLength: 8, messageSequence: 3, offset: 4, [1, 2]);
        byte[] input = [.. first, .. second];

        Assert.True(DtlsHandshakeFragment.TryRead(input, out var one));
        Assert.Equal(DtlsHandshakeType.ClientKeyExchange, one.MessageType);
        Assert.Equal(new byte[] { 7, 8, 9 }, one.Body.ToArray());
        Assert.Equal(first.Length, one.TotalLength);

        Assert.True(DtlsHandshakeFragment.TryRead(input.AsSpan(one.TotalLength), out var two));
        Assert.Equal(DtlsHandshakeType.CertificateVerify, two.MessageType);
        Assert.Equal(3, two.MessageSequence);
        Assert.Equal(4, two.FragmentOffset);
        Assert.Equal(new byte[] { 1, 2 }, two.Body.ToArray());
        Assert.Equal(second.Length, two.TotalLength);
    }

    private static byte[] Fragment(DtlsHandshakeType type, int messageLength, int messageSequence, int offset, byte[] body)
    {
        var fragment = new byte[12 + body.Length];
        fragment[0] = (byte)type;
        WriteUInt24(fragment.AsSpan(1), messageLength);
        BinaryPrimitives.WriteUInt16BigEndian(fragment.AsSpan(4), (ushort)messageSequence);
        WriteUInt24(fragment.AsSpan(6), offset);
        WriteUInt24(fragment.AsSpan(9), body.Length);
        body.CopyTo(fragment, 12);
        return fragment;
    }

    private static void WriteUInt24(Span<byte> destination, int value)
    {
        destination[0] = (byte)(value >> 16);
        destination[1] = (byte)(value >> 8);
        destination[2] = (byte)value;
    }

    private static byte[] Filled(int length, byte value) => Enumerable.Repeat(value, length).ToArray();
}
