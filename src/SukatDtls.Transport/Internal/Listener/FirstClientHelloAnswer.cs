using System.Buffers.Binary;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>What <see cref="FirstClientHelloAnswer.TryAnswer"/> made of a datagram.</summary>
internal enum FirstClientHelloOutcome
{
    /// <summary>A well-formed ClientHello without a cookie: the HelloVerifyRequest is written.</summary>
    Answered,

    /// <summary>A ClientHello that carries a cookie: BouncyCastle's verifier checks it.</summary>
    HasCookie,

    /// <summary>Not a ClientHello BouncyCastle's verifier would answer: no HelloVerifyRequest.</summary>
    Malformed,
}

/// <summary>
/// The HelloVerifyRequest for a client's first ClientHello (the one without a cookie), made without BouncyCastle: the
/// same checks as BouncyCastle's <c>DtlsVerifier</c>, the same cookie — HMAC-SHA256 under the verifier's key of the
/// client's address and the ClientHello's body without its cookie field — and the same record, byte for byte, so a
/// client's second ClientHello passes BouncyCastle's check of it. Without BouncyCastle's parse (its objects, arrays and
/// streams) answering a first ClientHello allocates nothing, which every handshake and every spoofed ClientHello of a
/// flood costs.
/// </summary>
/// <remarks>Not thread-safe: the caller (the listener's dispatch, one at a time) owns the scratch buffer.</remarks>
internal static class FirstClientHelloAnswer
{
    private const byte HelloVerifyRequestType = 3;
    private const int MinimumBodyLength = 39; // BouncyCastle's: the shortest syntactically valid ClientHello body
    private const ushort PreSharedKeyExtension = 41;

    /// <summary>The longest HelloVerifyRequest datagram: record and handshake headers, version, cookie length, 32-byte cookie.</summary>
    public const int MaxLength = DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + 3 + 32;

    /// <param name="datagram">The datagram (its first record is what BouncyCastle reads).</param>
    /// <param name="clientId">The client's address as the cookie binds it (the socket address bytes).</param>
    /// <param name="key">The verifier's current HMAC key.</param>
    /// <param name="scratch">Room for the MAC input: the address and the ClientHello's body.</param>
    /// <param name="helloVerifyRequest">Where the datagram to send is written (<see cref="MaxLength"/> bytes).</param>
    /// <param name="length">The HelloVerifyRequest's length when answered.</param>
    public static FirstClientHelloOutcome TryAnswer(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> clientId, ReadOnlySpan<byte> key, Span<byte> scratch,
        Span<byte> helloVerifyRequest, out int length)
    {
        length = 0;
        if (!TryReadBody(datagram, out var body, out long recordSequence))
        {
            return FirstClientHelloOutcome.Malformed;
        }

        // version (2), random (32), session_id<0..32>, then the cookie.
        int cookieAt = 2 + 32;
        int sessionIdLength = body[cookieAt];
        if (sessionIdLength > 32)
        {
            return FirstClientHelloOutcome.Malformed;
        }

        cookieAt += 1 + sessionIdLength;
        if (cookieAt >= body.Length)
        {
            return FirstClientHelloOutcome.Malformed;
        }

        if (body[cookieAt] != 0)
        {
            return FirstClientHelloOutcome.HasCookie;
        }

        if (!IsWellFormedAfterCookie(body[(cookieAt + 1)..]) || clientId.Length + body.Length - 1 > scratch.Length)
        {
            return FirstClientHelloOutcome.Malformed;
        }

        // The MAC input as BouncyCastle's verifier tees it: the address, then the body without the cookie's length byte.
        clientId.CopyTo(scratch);
        body[..cookieAt].CopyTo(scratch[clientId.Length..]);
        body[(cookieAt + 1)..].CopyTo(scratch[(clientId.Length + cookieAt)..]);
        var cookie = helloVerifyRequest[(DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + 3)..];
        int cookieLength = HMACSHA256.HashData(key, scratch[..(clientId.Length + body.Length - 1)], cookie);

        // RFC 6347 §4.2.1: the HelloVerifyRequest goes in a DTLS 1.0 record with the ClientHello's sequence number.
        int messageLength = 3 + cookieLength;
        length = DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + messageLength;
        var record = helloVerifyRequest[..length];
        record[0] = (byte)DtlsContentType.Handshake;
        BinaryPrimitives.WriteUInt16BigEndian(record[1..], 0xFEFF);
        BinaryPrimitives.WriteInt64BigEndian(record[3..], recordSequence); // epoch 0
        BinaryPrimitives.WriteUInt16BigEndian(record[11..], (ushort)(DtlsHandshakeFragment.HeaderLength + messageLength));
        var message = record[DtlsRecord.HeaderLength..];
        message[0] = HelloVerifyRequestType;
        BigEndian.WriteUInt24(message[1..], messageLength);
        message[4..9].Clear(); // message_seq 0, fragment_offset 0
        BigEndian.WriteUInt24(message[9..], messageLength);
        BinaryPrimitives.WriteUInt16BigEndian(message[DtlsHandshakeFragment.HeaderLength..], 0xFEFF);
        message[DtlsHandshakeFragment.HeaderLength + 2] = (byte)cookieLength;
        return FirstClientHelloOutcome.Answered;
    }

    /// <summary>The first record's ClientHello body, where BouncyCastle's verifier would read one (one whole message).</summary>
    private static bool TryReadBody(ReadOnlySpan<byte> datagram, out ReadOnlySpan<byte> body, out long recordSequence)
    {
        body = default;
        recordSequence = 0;
        if (datagram.Length < DtlsRecord.HeaderLength || datagram[0] != (byte)DtlsContentType.Handshake || datagram[1] != DtlsRecord.MajorVersion
            || BinaryPrimitives.ReadUInt16BigEndian(datagram[3..]) != 0)
        {
            return false;
        }

        int recordLength = BinaryPrimitives.ReadUInt16BigEndian(datagram[11..]);
        if (recordLength < DtlsHandshakeFragment.HeaderLength || recordLength > DtlsRecordLayer.MaxPlaintextLength
            || datagram.Length < DtlsRecord.HeaderLength + recordLength)
        {
            return false;
        }

        var message = datagram.Slice(DtlsRecord.HeaderLength, recordLength);
        int messageLength = BigEndian.ReadUInt24(message[1..]);
        if (message[0] != (byte)DtlsHandshakeType.ClientHello || DtlsHandshakeFragment.HeaderLength + messageLength != recordLength
            || BigEndian.ReadUInt24(message[6..]) != 0 || BigEndian.ReadUInt24(message[9..]) != messageLength || messageLength < MinimumBodyLength)
        {
            return false;
        }

        recordSequence = BigEndian.ReadUInt48(datagram[5..]);
        body = message[DtlsHandshakeFragment.HeaderLength..];
        return true;
    }

    /// <summary>
    /// What BouncyCastle's <c>ClientHello.Parse</c> requires after the cookie: cipher suites (an even count of bytes, at
    /// least one suite), compression methods with null among them, then nothing or an extensions block that is exactly
    /// the rest, with no extension twice and pre_shared_key, if there, last.
    /// </summary>
    private static bool IsWellFormedAfterCookie(ReadOnlySpan<byte> rest)
    {
        if (rest.Length < 2)
        {
            return false;
        }

        int suitesLength = BinaryPrimitives.ReadUInt16BigEndian(rest);
        rest = rest[2..];
        if (suitesLength < 2 || (suitesLength & 1) != 0 || suitesLength > rest.Length)
        {
            return false;
        }

        rest = rest[suitesLength..];
        if (rest.IsEmpty || rest[0] < 1 || rest[0] > rest.Length - 1 || rest.Slice(1, rest[0]).IndexOf((byte)0) < 0)
        {
            return false;
        }

        rest = rest[(1 + rest[0])..];
        if (rest.IsEmpty)
        {
            return true;
        }

        if (rest.Length < 2 || BinaryPrimitives.ReadUInt16BigEndian(rest) != rest.Length - 2)
        {
            return false;
        }

        var extensions = rest[2..];
        Span<byte> seen = stackalloc byte[65536 / 8];
        seen.Clear();
        ushort last = 0;
        bool preSharedKey = false;
        while (!extensions.IsEmpty)
        {
            if (extensions.Length < 4)
            {
                return false;
            }

            ushort type = BinaryPrimitives.ReadUInt16BigEndian(extensions);
            int dataLength = BinaryPrimitives.ReadUInt16BigEndian(extensions[2..]);
            if (dataLength > extensions.Length - 4 || (seen[type >> 3] & (1 << (type & 7))) != 0)
            {
                return false;
            }

            seen[type >> 3] |= (byte)(1 << (type & 7));
            preSharedKey |= type == PreSharedKeyExtension;
            last = type;
            extensions = extensions[(4 + dataLength)..];
        }

        return !preSharedKey || last == PreSharedKeyExtension;
    }
}
