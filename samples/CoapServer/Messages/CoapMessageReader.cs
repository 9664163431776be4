using System.Buffers.Binary;

namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>
/// Reads a CoAP message from a datagram (RFC 7252 §3): syntax only. Whatever the bytes, it returns a message or throws
/// <see cref="CoapFormatException"/>; what a well-formed message means (a reserved code, an option nobody knows) is
/// for the layers above.
/// </summary>
/// <remarks>
/// Every field has one encoding (option deltas and lengths of 13 and more only in their extended forms, the payload
/// marker only before a payload), so <see cref="CoapMessageWriter.Write"/> gives back exactly the bytes read.
/// </remarks>
internal static class CoapMessageReader
{
    public const int HeaderLength = 4;

    /// <summary>The byte before the payload: an option header whose delta and length nibbles are both 15.</summary>
    public const byte PayloadMarker = 0xFF;

    /// <summary>
    /// The fixed header alone, which a message with a format error may still have: enough to answer it with a Reset.
    /// </summary>
    /// <returns>False when the datagram is shorter than the header (there is no message ID to refer to).</returns>
    public static bool TryReadHeader(ReadOnlySpan<byte> datagram, out int version, out CoapMessageType type, out ushort messageId)
    {
        if (datagram.Length < HeaderLength)
        {
            (version, type, messageId) = (0, default, 0);
            return false;
        }

        version = datagram[0] >> 6;
        type = (CoapMessageType)((datagram[0] >> 4) & 0x3);
        messageId = BinaryPrimitives.ReadUInt16BigEndian(datagram[2..]);
        return true;
    }

    /// <exception cref="CoapFormatException">The datagram is not a well-formed CoAP message.</exception>
    public static CoapMessage Read(ReadOnlySpan<byte> datagram)
    {
        if (!TryReadHeader(datagram, out int version, out var type, out ushort messageId))
        {
            throw new CoapFormatException($"{datagram.Length} bytes: shorter than the {HeaderLength}-byte header.");
        }

        if (version != CoapMessage.Version)
        {
            throw new CoapFormatException($"version {version}; only {CoapMessage.Version} exists.");
        }

        int tokenLength = datagram[0] & 0x0F;
        if (tokenLength > CoapMessage.MaxTokenLength)
        {
            throw new CoapFormatException($"token length {tokenLength}: 9 to 15 are reserved.");
        }

        var code = new CoapCode(datagram[1]);
        if (code.IsEmpty && datagram.Length != HeaderLength)
        {
            // RFC 7252 §4.1: nothing may follow the message ID of an Empty message, not even a token.
            throw new CoapFormatException("an Empty message (0.00) with bytes after the message ID.");
        }

        if (datagram.Length < HeaderLength + tokenLength)
        {
            throw new CoapFormatException($"the {tokenLength}-byte token is cut short.");
        }

        var token = datagram.Slice(HeaderLength, tokenLength).ToArray();
        var options = new List<CoapOption>();
        byte[] payload = [];
        int position = HeaderLength + tokenLength;
        int number = 0;
        while (position < datagram.Length)
        {
            byte header = datagram[position++];
            if (header == PayloadMarker)
            {
                if (position == datagram.Length)
                {
                    throw new CoapFormatException("a payload marker with no payload after it.");
                }

                payload = datagram[position..].ToArray();
                break;
            }

            number += ReadNibble(header >> 4, datagram, ref position, "delta");
            int length = ReadNibble(header & 0x0F, datagram, ref position, "length");
            if (number > CoapOptionNumber.Max)
            {
                throw new CoapFormatException($"option number {number} is beyond {CoapOptionNumber.Max}.");
            }

            if (datagram.Length - position < length)
            {
                throw new CoapFormatException($"the {length}-byte value of option {number} is cut short.");
            }

            options.Add(new CoapOption(number, datagram.Slice(position, length).ToArray()));
            position += length;
        }

        return new CoapMessage { Type = type, Code = code, MessageId = messageId, Token = token, Options = options, Payload = payload };
    }

    /// <summary>An option delta or length (RFC 7252 §3.1): 0-12 in the nibble, 13 and 14 announce one or two more bytes, 15 is reserved.</summary>
    private static int ReadNibble(int nibble, ReadOnlySpan<byte> datagram, ref int position, string what)
    {
        switch (nibble)
        {
            case < 13:
                return nibble;
            case 13 when position < datagram.Length:
                return datagram[position++] + 13;
            case 14 when datagram.Length - position >= 2:
                int value = BinaryPrimitives.ReadUInt16BigEndian(datagram[position..]) + 269;
                position += 2;
                return value;
            case 15:
                throw new CoapFormatException($"option {what} nibble 15 outside the payload marker.");
            default:
                throw new CoapFormatException($"the extended option {what} is cut short.");
        }
    }
}
