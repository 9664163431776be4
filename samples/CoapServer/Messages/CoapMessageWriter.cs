using System.Buffers.Binary;

namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>Writes a CoAP message as the bytes of one datagram (RFC 7252 §3).</summary>
internal static class CoapMessageWriter
{
    /// <summary>The longest option value the format carries: 14 in the length nibble, then 2 bytes plus 269.</summary>
    public const int MaxOptionLength = 65535 + 269;

    /// <exception cref="ArgumentException">The message cannot be encoded (a token of more than 8 bytes, an option beyond the format, an Empty message with content).</exception>
    public static byte[] Write(CoapMessage message)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (message.Token.Length > CoapMessage.MaxTokenLength)
        {
            throw new ArgumentException($"A token has at most {CoapMessage.MaxTokenLength} bytes, not {message.Token.Length}.", nameof(message));
        }

        if (message.Code.IsEmpty && (message.Token.Length > 0 || message.Options.Count > 0 || message.Payload.Length > 0))
        {
            throw new ArgumentException("An Empty message (0.00) has no token, options or payload.", nameof(message));
        }

        // Options go in ascending number (each header carries the difference); OrderBy is stable, so repeated options
        // keep their order, which is the meaning of Uri-Path.
        var options = message.Options.OrderBy(option => option.Number).ToArray();
        int length = CoapMessageReader.HeaderLength + message.Token.Length + (message.Payload.Length > 0 ? 1 + message.Payload.Length : 0);
        int previous = 0;
        foreach (var option in options)
        {
            if (option.Number is < 0 or > CoapOptionNumber.Max || option.Value.Length > MaxOptionLength)
            {
                throw new ArgumentException($"Option {option.Number} with {option.Value.Length} bytes cannot be encoded.", nameof(message));
            }

            length += 1 + ExtendedLength(option.Number - previous) + ExtendedLength(option.Value.Length) + option.Value.Length;
            previous = option.Number;
        }

        var bytes = new byte[length];
        bytes[0] = (byte)((CoapMessage.Version << 6) | ((int)message.Type << 4) | message.Token.Length);
        bytes[1] = message.Code.Value;
        BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(2), message.MessageId);
        message.Token.CopyTo(bytes, CoapMessageReader.HeaderLength);
        int position = CoapMessageReader.HeaderLength + message.Token.Length;
        previous = 0;
        foreach (var option in options)
        {
            int header = position++;
            int delta = option.Number - previous;
            bytes[header] = (byte)((Nibble(delta) << 4) | Nibble(option.Value.Length));
            position = WriteExtended(delta, bytes, position);
            position = WriteExtended(option.Value.Length, bytes, position);
            option.Value.CopyTo(bytes, position);
            position += option.Value.Length;
            previous = option.Number;
        }

        if (message.Payload.Length > 0)
        {
            bytes[position++] = CoapMessageReader.PayloadMarker;
            message.Payload.CopyTo(bytes, position);
        }

        return bytes;
    }

    private static int Nibble(int value) => value switch { < 13 => value, < 269 => 13, _ => 14 };

    private static int ExtendedLength(int value) => value switch { < 13 => 0, < 269 => 1, _ => 2 };

    private static int WriteExtended(int value, byte[] bytes, int position)
    {
        switch (value)
        {
            case < 13:
                return position;
            case < 269:
                bytes[position] = (byte)(value - 13);
                return position + 1;
            default:
                BinaryPrimitives.WriteUInt16BigEndian(bytes.AsSpan(position), (ushort)(value - 269));
                return position + 2;
        }
    }
}
