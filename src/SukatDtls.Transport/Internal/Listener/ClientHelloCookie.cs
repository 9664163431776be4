using System.Buffers.Binary;
using System.Security.Cryptography;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>What <see cref="ClientHelloCookie.TryAnswer"/> made of a datagram.</summary>
internal enum ClientHelloCookieOutcome
{
    /// <summary>A well-formed ClientHello without the key's cookie (none, or another): the HelloVerifyRequest is written.</summary>
    Answered,

    /// <summary>A well-formed ClientHello that returns the current key's cookie: the peer proved its address.</summary>
    Verified,

    /// <summary>A well-formed ClientHello that returns the previous key's cookie: the peer proved its address.</summary>
    VerifiedByPreviousKey,

    /// <summary>Not a ClientHello BouncyCastle's verifier would answer: no HelloVerifyRequest.</summary>
    Malformed,
}

/// <summary>
/// The stateless cookie check (RFC 6347 §4.2.1) made without BouncyCastle, exactly as BouncyCastle's <c>DtlsVerifier</c>
/// makes it: the same checks of the ClientHello, the same cookie — HMAC-SHA256 under the verifier's key of the client's
/// address and the ClientHello's body without its cookie field — and the same HelloVerifyRequest record, byte for
/// byte. So either one's cookie passes the other's check, and BouncyCastle's verifier is needed only to make the
/// request its own handshake goes on from. Without BouncyCastle's parse (its objects, arrays and streams) the check
/// allocates nothing: every handshake pays it twice, and every spoofed ClientHello of a flood once.
/// </summary>
/// <remarks>Not thread-safe: the caller (the listener's dispatch, one at a time) owns the scratch buffer.</remarks>
internal static class ClientHelloCookie
{
    private const ushort Dtls10 = 0xFEFF;
    private const int MinimumBodyLength = 39; // BouncyCastle's: the shortest syntactically valid ClientHello body
    private const ushort PreSharedKeyExtension = 41;

    /// <summary>The longest HelloVerifyRequest datagram: record and handshake headers, version, cookie length, 32-byte cookie.</summary>
    public const int MaxLength = DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + 3 + 32;

    /// <param name="datagram">The datagram (its first record is what BouncyCastle reads).</param>
    /// <param name="clientId">The client's address as the cookie binds it (the socket address bytes).</param>
    /// <param name="key">The verifier's current HMAC key: the HelloVerifyRequest's cookie is made with it.</param>
    /// <param name="previousKey">The key before it, whose cookies are still accepted; empty for none.</param>
    /// <param name="scratch">Room for the MAC input: the address and the ClientHello's body.</param>
    /// <param name="helloVerifyRequest">Where the datagram to send is written (<see cref="MaxLength"/> bytes).</param>
    /// <param name="length">The HelloVerifyRequest's length when answered.</param>
    public static ClientHelloCookieOutcome TryAnswer(ReadOnlySpan<byte> datagram, ReadOnlySpan<byte> clientId, ReadOnlySpan<byte> key,
        ReadOnlySpan<byte> previousKey, Span<byte> scratch, Span<byte> helloVerifyRequest, out int length)
    {
        length = 0;
        if (!TryReadBody(datagram, out var body, out long recordSequence))
        {
            return ClientHelloCookieOutcome.Malformed;
        }

        // version (2), random (32), session_id<0..32>, then the cookie.
        int cookieAt = 2 + 32;
        int sessionIdLength = body[cookieAt];
        if (sessionIdLength > 32)
        {
            return ClientHelloCookieOutcome.Malformed;
        }

        cookieAt += 1 + sessionIdLength;
        if (cookieAt >= body.Length)
        {
            return ClientHelloCookieOutcome.Malformed;
        }

        // RFC 6347 raised the cookie's limit to 255 bytes; a client of an earlier DTLS has 32 (as BouncyCastle reads it).
        int presentedLength = body[cookieAt];
        bool dtls12 = body[0] == DtlsRecord.MajorVersion && body[1] <= 0xFD;
        int afterCookie = cookieAt + 1 + presentedLength;
        if (presentedLength > (dtls12 ? 255 : 32) || afterCookie > body.Length || !IsWellFormedAfterCookie(body[afterCookie..])
            || clientId.Length + body.Length - 1 - presentedLength > scratch.Length)
        {
            return ClientHelloCookieOutcome.Malformed;
        }

        // The MAC input as BouncyCastle's verifier tees it: the address, then the body without the cookie field.
        clientId.CopyTo(scratch);
        body[..cookieAt].CopyTo(scratch[clientId.Length..]);
        body[afterCookie..].CopyTo(scratch[(clientId.Length + cookieAt)..]);
        var macInput = scratch[..(clientId.Length + body.Length - 1 - presentedLength)];
        var cookie = helloVerifyRequest[(DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + 3)..];
        int cookieLength = PlatformHmac.Compute(sha384: false, key, macInput, cookie);
        if (presentedLength > 0)
        {
            var presented = body.Slice(cookieAt + 1, presentedLength);
            if (CryptographicOperations.FixedTimeEquals(presented, cookie[..cookieLength]))
            {
                return ClientHelloCookieOutcome.Verified;
            }

            // A cookie of the previous key is still good (the client answered a HelloVerifyRequest just before a rotation).
            Span<byte> previous = stackalloc byte[HMACSHA256.HashSizeInBytes];
            if (!previousKey.IsEmpty && PlatformHmac.Compute(sha384: false, previousKey, macInput, previous) == presentedLength
                && CryptographicOperations.FixedTimeEquals(presented, previous))
            {
                return ClientHelloCookieOutcome.VerifiedByPreviousKey;
            }
        }

        // RFC 6347 §4.2.1: the HelloVerifyRequest goes in a DTLS 1.0 record with the ClientHello's sequence number.
        int messageLength = 3 + cookieLength;
        length = DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength + messageLength;
        DtlsRecord.WriteHeader(helloVerifyRequest, DtlsContentType.Handshake, Dtls10, recordSequence, DtlsHandshakeFragment.HeaderLength + messageLength);
        var message = helloVerifyRequest[DtlsRecord.HeaderLength..];
        DtlsHandshakeFragment.WriteHeader(message, DtlsHandshakeType.HelloVerifyRequest, messageLength, messageSequence: 0, fragmentOffset: 0, messageLength);
        BinaryPrimitives.WriteUInt16BigEndian(message[DtlsHandshakeFragment.HeaderLength..], Dtls10);
        message[DtlsHandshakeFragment.HeaderLength + 2] = (byte)cookieLength;
        return ClientHelloCookieOutcome.Answered;
    }

    /// <summary>The first record's ClientHello body, where BouncyCastle's verifier would read one (one whole message).</summary>
    private static bool TryReadBody(ReadOnlySpan<byte> datagram, out ReadOnlySpan<byte> body, out long recordSequence)
    {
        body = default;
        recordSequence = 0;
        if (!DtlsRecord.TryRead(datagram, out var record) || record.ContentType != DtlsContentType.Handshake || record.Epoch != 0
            || record.Fragment.Length > DtlsRecordLayer.MaxPlaintextLength
            || !DtlsHandshakeFragment.TryRead(record.Fragment, out var message) || message.MessageType != DtlsHandshakeType.ClientHello
            || !message.IsWholeMessage || message.TotalLength != record.Fragment.Length || message.MessageLength < MinimumBodyLength)
        {
            return false;
        }

        recordSequence = record.SequenceNumber;
        body = message.Body;
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
