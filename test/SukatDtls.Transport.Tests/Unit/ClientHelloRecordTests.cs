using System.Buffers.Binary;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// What the listener reads from a datagram of an unknown peer: whether it starts with a ClientHello (epoch 0,
/// handshake record, well-formed), whether that is a fragment, and the ClientHello's random.
/// </summary>
public sealed class ClientHelloRecordTests
{
    private const byte Handshake = 22;
    private const byte ApplicationData = 23;
    private const byte ClientHello = 1;
    private const byte ServerHello = 2;

    [Fact]
    public void An_epoch_0_handshake_record_with_a_client_hello_header_is_a_client_hello()
    {
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ClientHello, Body(randomFill: 0x5A)));

        Assert.True(ClientHelloRecord.IsClientHello(datagram));
        Assert.False(ClientHelloRecord.IsFragment(datagram));
    }

    [Fact]
    public void An_epoch_1_handshake_record_is_not_a_client_hello()
    {
        var datagram = Record(Handshake, epoch: 1, HandshakeMessage(ClientHello, Body(randomFill: 0x5A)));

        Assert.False(ClientHelloRecord.IsClientHello(datagram));
        Assert.False(ClientHelloRecord.IsFragment(datagram));
        Assert.True(ClientHelloRecord.Random(datagram).IsEmpty);
    }

    [Fact]
    public void Another_handshake_type_is_not_a_client_hello()
    {
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ServerHello, Body(randomFill: 0x5A)));

        Assert.False(ClientHelloRecord.IsClientHello(datagram));
        Assert.True(ClientHelloRecord.Random(datagram).IsEmpty);
    }

    [Fact]
    public void Application_data_is_not_a_client_hello()
    {
        // Same payload, wrong content type.
        var datagram = Record(ApplicationData, epoch: 0, HandshakeMessage(ClientHello, Body(randomFill: 0x5A)));

        Assert.False(ClientHelloRecord.IsClientHello(datagram));
        Assert.True(ClientHelloRecord.Random(datagram).IsEmpty);
    }

    [Fact]
    public void A_record_with_a_lying_length_is_not_a_client_hello()
    {
        var payload = HandshakeMessage(ClientHello, Body(randomFill: 0x5A));
        var datagram = Record(Handshake, epoch: 0, payload, declaredLength: payload.Length + 1);

        Assert.False(ClientHelloRecord.IsClientHello(datagram));
        Assert.True(ClientHelloRecord.Random(datagram).IsEmpty);
    }

    [Fact]
    public void A_client_hello_with_a_lying_fragment_length_is_not_a_client_hello()
    {
        var body = Body(randomFill: 0x5A);
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ClientHello, body, fragmentLength: body.Length + 1));

        Assert.False(ClientHelloRecord.IsClientHello(datagram));
    }

    [Fact]
    public void A_client_hello_fragment_is_a_client_hello_and_a_fragment()
    {
        var body = Body(randomFill: 0x5A);
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ClientHello, body.AsSpan(0, 40).ToArray(), messageLength: body.Length));

        Assert.True(ClientHelloRecord.IsClientHello(datagram));
        Assert.True(ClientHelloRecord.IsFragment(datagram));
    }

    [Fact]
    public void A_fragment_of_another_message_is_not_a_client_hello_fragment()
    {
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ServerHello, new byte[40], messageLength: 100));

        Assert.False(ClientHelloRecord.IsFragment(datagram));
    }

    [Fact]
    public void The_random_is_the_32_bytes_after_client_version()
    {
        var body = Body(randomFill: 0);
        for (int i = 0; i < 32; i++)
        {
            body[2 + i] = (byte)(0x80 + i);
        }

        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ClientHello, body));

        Assert.Equal(body.AsSpan(2, 32).ToArray(), ClientHelloRecord.Random(datagram).ToArray());
    }

    [Fact]
    public void The_first_fragment_holding_the_random_gives_it()
    {
        var body = Body(randomFill: 0x77);
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ClientHello, body.AsSpan(0, 34).ToArray(), messageLength: body.Length));

        Assert.Equal(Enumerable.Repeat((byte)0x77, 32).ToArray(), ClientHelloRecord.Random(datagram).ToArray());
    }

    [Fact]
    public void A_fragment_further_into_the_message_has_no_random()
    {
        var body = Body(randomFill: 0x77);
        var datagram = Record(Handshake, epoch: 0,
            HandshakeMessage(ClientHello, body.AsSpan(1, 40).ToArray(), messageLength: body.Length, fragmentOffset: 1));

        Assert.True(ClientHelloRecord.IsClientHello(datagram));
        Assert.True(ClientHelloRecord.Random(datagram).IsEmpty);
    }

    [Fact]
    public void A_body_too_short_for_the_random_has_none()
    {
        // client_version and 31 bytes of random.
        var body = Body(randomFill: 0x77).AsSpan(0, 33).ToArray();
        var datagram = Record(Handshake, epoch: 0, HandshakeMessage(ClientHello, body));

        Assert.True(ClientHelloRecord.IsClientHello(datagram));
        Assert.True(ClientHelloRecord.Random(datagram).IsEmpty);
    }

    [Fact]
    public void Garbage_and_empty_datagrams_are_not_client_hellos()
    {
        Assert.False(ClientHelloRecord.IsClientHello([]));
        Assert.False(ClientHelloRecord.IsClientHello(new byte[100]));
        Assert.False(ClientHelloRecord.IsFragment(new byte[100]));
        Assert.True(ClientHelloRecord.Random(new byte[100]).IsEmpty);
    }

    /// <summary>A ClientHello body: client_version FEFD, random, empty session id, cookie, one suite, null compression, no extensions.</summary>
    private static byte[] Body(byte randomFill)
    {
        var body = new List<byte> { 0xFE, 0xFD };
        body.AddRange(Enumerable.Repeat(randomFill, 32));
        body.AddRange([0x00, 0x00, 0x00, 0x02, 0xC0, 0x2B, 0x01, 0x00, 0x00, 0x00]);
        return [.. body];
    }

    private static byte[] Record(byte type, ushort epoch, byte[] payload, int? declaredLength = null)
    {
        var record = new byte[13 + payload.Length];
        record[0] = type;
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(1), 0xFEFD);
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(3), epoch);
        record[10] = 1; // sequence number 1
        BinaryPrimitives.WriteUInt16BigEndian(record.AsSpan(11), (ushort)(declaredLength ?? payload.Length));
        payload.CopyTo(record, 13);
        return record;
    }

    private static byte[] HandshakeMessage(byte type, byte[] fragmentBody, int? messageLength = null, int fragmentOffset = 0,
        int? fragmentLength = null)
    {
        var message = new byte[12 + fragmentBody.Length];
        message[0] = type;
        WriteUInt24(message.AsSpan(1), messageLength ?? fragmentBody.Length);
        WriteUInt24(message.AsSpan(6), fragmentOffset);
        WriteUInt24(message.AsSpan(9), fragmentLength ?? fragmentBody.Length);
        fragmentBody.CopyTo(message, 12);
        return message;
    }

    private static void WriteUInt24(Span<byte> destination, int value)
    {
        destination[0] = (byte)(value >> 16);
        destination[1] = (byte)(value >> 8);
        destination[2] = (byte)value;
    }
}
