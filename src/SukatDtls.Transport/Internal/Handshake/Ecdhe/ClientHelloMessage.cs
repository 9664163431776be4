using System.Buffers.Binary;

namespace SukatDtls.Transport.Internal.Ecdhe;

/// <summary>
/// A verified ClientHello (the one that returned the cookie), read for the server's own ECDHE handshake
/// (<see cref="EcdheServerHandshake"/>): the fields it negotiates from, and the message as the transcript hashes it.
/// </summary>
/// <remarks>
/// Reading is strict and total: any length that does not add up, a repeated extension, or anything the reader does not
/// know how to answer makes <see cref="TryRead"/> fail or <see cref="NeedsBouncyCastle"/> true, and the handshake then
/// goes to BouncyCastle, which answers (or rejects) everything the protocol allows. So this reader never has to decide
/// a corner case of its own.
/// </remarks>
internal sealed class ClientHelloMessage
{
    private const ushort ServerNameExtension = 0;
    private const ushort MaxFragmentLengthExtension = 1;
    private const ushort SupportedGroupsExtension = 10;
    private const ushort PointFormatsExtension = 11;
    private const ushort SignatureAlgorithmsExtension = 13;
    private const ushort ClientCertificateTypeExtension = 19;
    private const ushort ServerCertificateTypeExtension = 20;
    private const ushort ExtendedMasterSecretExtension = 23;
    private const ushort RecordSizeLimitExtension = 28;
    private const ushort ConnectionIdExtension = 54;
    private const ushort RenegotiationInfoExtension = 0xFF01;
    private const int EmptyRenegotiationInfoScsv = 0x00FF;

    private ClientHelloMessage(ReadOnlyMemory<byte> message)
    {
        Message = message;
    }

    /// <summary>The whole message, 12-byte header (unfragmented) and body: what the handshake transcript starts with.</summary>
    public ReadOnlyMemory<byte> Message { get; }

    /// <summary>The message sequence number of the ClientHello (1 after a HelloVerifyRequest).</summary>
    public int MessageSequence => BinaryPrimitives.ReadUInt16BigEndian(Message.Span[4..]);

    /// <summary>The record sequence number the ClientHello came in.</summary>
    public long RecordSequence { get; private init; }

    public ReadOnlyMemory<byte> Random { get; private init; }

    /// <summary>The session the client offers to resume; empty for none.</summary>
    public ReadOnlyMemory<byte> SessionId { get; private init; }

    /// <summary>The offered cipher suites, in the client's order of preference.</summary>
    public int[] CipherSuites { get; private init; } = [];

    /// <summary>supported_groups (RFC 8422 §5.1.1), in the client's order; null when the extension is absent.</summary>
    public int[]? SupportedGroups { get; private init; }

    /// <summary>signature_algorithms (RFC 5246 §7.4.1.4.1) as (hash &lt;&lt; 8 | signature); null when absent.</summary>
    public int[]? SignatureAlgorithms { get; private init; }

    /// <summary>extended_master_secret (RFC 7627).</summary>
    public bool OffersExtendedMasterSecret { get; private init; }

    /// <summary>Secure renegotiation (RFC 5746): an empty renegotiation_info extension or the SCSV.</summary>
    public bool OffersSecureRenegotiation { get; private init; }

    /// <summary>ec_point_formats was sent (the server answers it when it selects an ECC suite, RFC 8422 §5.2).</summary>
    public bool SentPointFormats { get; private init; }

    /// <summary>
    /// The ClientHello asks for something only BouncyCastle's handshake answers: a Connection ID, a negotiated fragment
    /// or record size, raw public keys, a non-empty renegotiation_info, no null compression, a version other than DTLS 1.2,
    /// point formats without the uncompressed one.
    /// </summary>
    public bool NeedsBouncyCastle { get; private init; }

    /// <summary>
    /// Reads the ClientHello at the front of <paramref name="datagram"/> (one record holding the whole message, as the
    /// listener's gate hands it over, reassembled if it came in fragments). False when it is not that. The message and
    /// its fields stay in <paramref name="datagram"/>'s memory: nothing is copied.
    /// </summary>
    public static bool TryRead(ReadOnlyMemory<byte> datagram, out ClientHelloMessage? clientHello)
    {
        clientHello = null;
        if (!DtlsRecord.TryRead(datagram.Span, out var record) || record.ContentType != DtlsContentType.Handshake || record.Epoch != 0
            || !DtlsHandshakeFragment.TryRead(record.Fragment, out var fragment)
            || fragment.MessageType != DtlsHandshakeType.ClientHello || !fragment.IsWholeMessage)
        {
            return false;
        }

        var message = datagram.Slice(DtlsRecord.HeaderLength, fragment.TotalLength);
        var body = fragment.Body;
        try
        {
            clientHello = Parse(message, body, record.SequenceNumber);
            return clientHello is not null;
        }
        catch (Exception ex) when (ex is ArgumentOutOfRangeException or IndexOutOfRangeException)
        {
            // A length that runs past the message: not ours to answer.
            return false;
        }
    }

    private static ClientHelloMessage? Parse(ReadOnlyMemory<byte> message, ReadOnlySpan<byte> body, long recordSequence)
    {
        int position = 0;
        ushort version = BinaryPrimitives.ReadUInt16BigEndian(body);
        position += 2;
        var random = message.Slice(DtlsHandshakeFragment.HeaderLength + position, 32);
        position += 32;
        int sessionIdLength = body[position++];
        if (sessionIdLength > 32)
        {
            return null;
        }

        _ = body.Slice(position, sessionIdLength); // throws when it runs past the message
        var sessionId = message.Slice(DtlsHandshakeFragment.HeaderLength + position, sessionIdLength);
        position += sessionIdLength;
        int cookieLength = body[position++];
        _ = body.Slice(position, cookieLength);
        position += cookieLength;
        int suitesLength = BinaryPrimitives.ReadUInt16BigEndian(body[position..]);
        position += 2;
        if (suitesLength == 0 || suitesLength % 2 != 0)
        {
            return null;
        }

        var suiteBytes = body.Slice(position, suitesLength);
        position += suitesLength;
        var suites = new int[suitesLength / 2];
        bool scsv = false;
        for (int i = 0; i < suites.Length; i++)
        {
            suites[i] = BinaryPrimitives.ReadUInt16BigEndian(suiteBytes[(2 * i)..]);
            scsv |= suites[i] == EmptyRenegotiationInfoScsv;
        }

        int compressionLength = body[position++];
        var compression = body.Slice(position, compressionLength);
        position += compressionLength;
        bool needsBouncyCastle = version != DtlsRecord.Dtls12 || compression.IndexOf((byte)0) < 0;

        bool ems = false;
        bool renegotiationInfo = false;
        bool pointFormats = false;
        int[]? groups = null;
        int[]? signatureAlgorithms = null;
        if (position < body.Length)
        {
            int extensionsLength = BinaryPrimitives.ReadUInt16BigEndian(body[position..]);
            position += 2;
            var extensions = body.Slice(position, extensionsLength);
            position += extensionsLength;
            Span<ushort> seen = stackalloc ushort[64];
            int seenCount = 0;
            int at = 0;
            while (at < extensions.Length)
            {
                ushort type = BinaryPrimitives.ReadUInt16BigEndian(extensions[at..]);
                int length = BinaryPrimitives.ReadUInt16BigEndian(extensions[(at + 2)..]);
                var data = extensions.Slice(at + 4, length);
                at += 4 + length;
                if (seen[..seenCount].Contains(type) || seenCount == seen.Length)
                {
                    // A repeated extension is illegal (RFC 5246 §7.4.1.4); too many to track is not worth our while.
                    needsBouncyCastle = true;
                    continue;
                }

                seen[seenCount++] = type;
                switch (type)
                {
                    case ExtendedMasterSecretExtension:
                        ems = data.IsEmpty;
                        needsBouncyCastle |= !data.IsEmpty;
                        break;
                    case RenegotiationInfoExtension:
                        // Only an initial handshake's empty renegotiated_connection is ours to answer.
                        renegotiationInfo = data.Length == 1 && data[0] == 0;
                        needsBouncyCastle |= !renegotiationInfo;
                        break;
                    case PointFormatsExtension:
                        pointFormats = true;
                        needsBouncyCastle |= data.IsEmpty || data[0] != data.Length - 1 || data[1..].IndexOf((byte)0) < 0;
                        break;
                    case SupportedGroupsExtension:
                        groups = ReadUInt16List(data);
                        needsBouncyCastle |= groups is null;
                        break;
                    case SignatureAlgorithmsExtension:
                        signatureAlgorithms = ReadUInt16List(data);
                        needsBouncyCastle |= signatureAlgorithms is null;
                        break;
                    case MaxFragmentLengthExtension or RecordSizeLimitExtension or ConnectionIdExtension
                        or ClientCertificateTypeExtension or ServerCertificateTypeExtension:
                        needsBouncyCastle = true;
                        break;
                    case ServerNameExtension:
                    default:
                        // Extensions a server may leave unanswered (server_name, session_ticket, status_request,
                        // encrypt_then_mac for the AEAD suites chosen here, ALPN which the transport does not use...).
                        break;
                }
            }
        }

        if (position != body.Length)
        {
            return null;
        }

        return new ClientHelloMessage(message)
        {
            RecordSequence = recordSequence,
            Random = random,
            SessionId = sessionId,
            CipherSuites = suites,
            SupportedGroups = groups,
            SignatureAlgorithms = signatureAlgorithms,
            OffersExtendedMasterSecret = ems,
            OffersSecureRenegotiation = renegotiationInfo || scsv,
            SentPointFormats = pointFormats,
            NeedsBouncyCastle = needsBouncyCastle,
        };
    }

    /// <summary>A list of 16-bit values with a 16-bit length (supported_groups, signature_algorithms); null when malformed.</summary>
    private static int[]? ReadUInt16List(ReadOnlySpan<byte> data)
    {
        if (data.Length < 2)
        {
            return null;
        }

        int length = BinaryPrimitives.ReadUInt16BigEndian(data);
        if (length == 0 || length % 2 != 0 || length != data.Length - 2)
        {
            return null;
        }

        var values = new int[length / 2];
        for (int i = 0; i < values.Length; i++)
        {
            values[i] = BinaryPrimitives.ReadUInt16BigEndian(data[(2 + (2 * i))..]);
        }

        return values;
    }
}
