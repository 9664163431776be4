using EncryptionAlgorithm = Org.BouncyCastle.Tls.EncryptionAlgorithm;
using MacAlgorithm = Org.BouncyCastle.Tls.MacAlgorithm;
using TlsUtilities = Org.BouncyCastle.Tls.TlsUtilities;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// A cheap check of datagrams on an established connection before BouncyCastle sees them. BouncyCastle's record layer
/// keeps asking its transport for more until its deadline passes whenever a datagram yields no application data, so
/// every junk, stale or replayed datagram would cost up to a millisecond of CPU. Such datagrams are recognised here
/// from the record headers alone and dropped: malformed framing, content types never negotiated, records of an epoch
/// BouncyCastle would ignore anyway, and replays of application records that BouncyCastle already delivered (RFC 6347 §4.1.2.6 sliding
/// window, fed only with authenticated, delivered records so that a forged record cannot poison it).
/// </summary>
/// <remarks>Thread-safe: datagrams come from the peer socket's loop and from the listener.</remarks>
internal sealed class EstablishedRecordFilter
{
    public const long NotASingleApplicationRecord = -1;

    // DTLS 1.2 without renegotiation (BouncyCastle has none): application data always travels in epoch 1.
    private const ushort ApplicationEpoch = 1;

    private readonly Lock _lock = new();
    private ReplayWindow _window = new();

    private long _dropped;
    private bool _applicationDataDelivered;

    public long Dropped => Interlocked.Read(ref _dropped);

    /// <summary>
    /// The shortest protected record of the negotiated cipher (explicit nonce plus tag). BouncyCastle fails the whole
    /// connection with decode_error on a shorter one, where a longer forgery only fails authentication (ignored).
    /// </summary>
    public int MinimumCiphertextLength { get; set; }

    /// <summary>
    /// For CBC suites: protected records are whole cipher blocks (IV, padded data and, with HMAC-SHA256/384, the MAC).
    /// BouncyCastle fails the whole connection with decryption_failed on any other length. 0: no such rule.
    /// </summary>
    public int CiphertextBlockSize { get; set; }

    /// <summary>
    /// Sets <see cref="MinimumCiphertextLength"/> and <see cref="CiphertextBlockSize"/> for the negotiated suite, by
    /// BouncyCastle's own decode checks (TlsAeadCipher, TlsBlockCipher): shorter or misaligned records would end the
    /// connection, longer ones only fail authentication. Each bound is the shortest record a real peer can send
    /// (an empty application record), so no valid record is ever dropped.
    /// </summary>
    public void ConfigureFor(int cipherSuite, bool encryptThenMac)
    {
        const int AesBlock = 16;
        CiphertextBlockSize = 0;
        MinimumCiphertextLength = TlsUtilities.GetEncryptionAlgorithm(cipherSuite) switch
        {
            EncryptionAlgorithm.AES_128_GCM or EncryptionAlgorithm.AES_256_GCM => 8 + 16, // explicit nonce + tag
            EncryptionAlgorithm.AES_128_CCM or EncryptionAlgorithm.AES_256_CCM => 8 + 16, // explicit nonce + tag
            EncryptionAlgorithm.AES_128_CCM_8 or EncryptionAlgorithm.AES_256_CCM_8 => 8 + 8, // explicit nonce + short tag
            EncryptionAlgorithm.CHACHA20_POLY1305 => 16, // tag (the nonce is implicit)
            EncryptionAlgorithm.AES_128_CBC or EncryptionAlgorithm.AES_256_CBC => MinimumCbcLength(MacLength(TlsUtilities.GetMacAlgorithm(cipherSuite)), encryptThenMac),
            _ => 0,
        };

        if (TlsUtilities.GetEncryptionAlgorithm(cipherSuite) is EncryptionAlgorithm.AES_128_CBC or EncryptionAlgorithm.AES_256_CBC)
        {
            // Encrypt-then-MAC appends the MAC after the blocks: the total stays block-aligned only when the MAC is
            // (HMAC-SHA256/384, the suites we offer); with HMAC-SHA1 only the minimum is checked.
            int macLength = MacLength(TlsUtilities.GetMacAlgorithm(cipherSuite));
            CiphertextBlockSize = !encryptThenMac || macLength % AesBlock == 0 ? AesBlock : 0;
        }

        static int MinimumCbcLength(int macLength, bool encryptThenMac) => encryptThenMac
            ? AesBlock + AesBlock + macLength // explicit IV + one block (padding at least) + MAC
            : AesBlock + RoundUpToBlock(Math.Max(AesBlock, macLength + 1)); // explicit IV + blocks holding MAC and padding

        static int RoundUpToBlock(int length) => (length + AesBlock - 1) / AesBlock * AesBlock;

        static int MacLength(int macAlgorithm) => macAlgorithm switch
        {
            MacAlgorithm.hmac_sha1 => 20,
            MacAlgorithm.hmac_sha256 => 32,
            MacAlgorithm.hmac_sha384 => 48,
            MacAlgorithm.hmac_sha512 => 64,
            _ => 0,
        };
    }

    /// <summary>
    /// Whether the datagram may go to BouncyCastle. <paramref name="applicationSequence"/> is the sequence number when the
    /// datagram is exactly one application record of the current epoch (the case the replay window tracks).
    /// </summary>
    public bool ShouldPass(ReadOnlySpan<byte> datagram, out long applicationSequence)
    {
        applicationSequence = NotASingleApplicationRecord;
        int records = 0;
        long firstSequence = NotASingleApplicationRecord;
        bool allApplication = true;
        var rest = datagram;
        while (!rest.IsEmpty)
        {
            if (!DtlsRecord.TryRead(rest, out var record))
            {
                return Drop();
            }

            ushort epoch = record.Epoch;
            int length = record.Fragment.Length;
            if (epoch == ApplicationEpoch && (length < MinimumCiphertextLength || (CiphertextBlockSize > 0 && length % CiphertextBlockSize != 0)))
            {
                return Drop();
            }

            switch (record.ContentType)
            {
                case DtlsContentType.ApplicationData:
                    if (epoch != ApplicationEpoch)
                    {
                        return Drop();
                    }

                    if (records == 0)
                    {
                        firstSequence = record.SequenceNumber;
                    }

                    break;
                case DtlsContentType.Alert:
                    // Alerts (close_notify) are BouncyCastle's business, in the current epoch only: it ignores others.
                    if (epoch != ApplicationEpoch)
                    {
                        return Drop();
                    }

                    allApplication = false;
                    break;
                case DtlsContentType.ChangeCipherSpec:
                    // A retransmitted final flight packed in one datagram (OpenSSL's, ours) carries its epoch-0
                    // ChangeCipherSpec between the handshake records: let it pass with them (BouncyCastle ignores it).
                    if (epoch > ApplicationEpoch || (epoch == 0 && Volatile.Read(ref _applicationDataDelivered)))
                    {
                        return Drop();
                    }

                    allApplication = false;
                    break;
                case DtlsContentType.Handshake:
                    // The peer retransmits its final flight when our last one was lost, and BouncyCastle answers
                    // by resending ours. Epoch 1 carries its (encrypted, authenticated) Finished. Epoch 0 is
                    // plaintext, so anyone who can forge the peer's address can send it, and BouncyCastle parses it
                    // and fails the whole connection on a malformed one: let only well-formed final-flight fragments
                    // through, and none once application data proved that the peer has our last flight.
                    if (epoch > ApplicationEpoch
                        || (epoch == 0 && (Volatile.Read(ref _applicationDataDelivered) || !IsFinalFlightFragment(record.Fragment))))
                    {
                        return Drop();
                    }

                    allApplication = false;
                    break;
                default:
                    return Drop();
            }

            records++;
            rest = rest[record.Whole.Length..];
        }

        if (records == 1 && allApplication)
        {
            lock (_lock)
            {
                if (_window.IsReplay(firstSequence))
                {
                    return Drop();
                }
            }

            applicationSequence = firstSequence;
        }

        return records > 0 || Drop();
    }

    /// <summary>BouncyCastle authenticated and delivered the single application record with this sequence number.</summary>
    public void OnDelivered(long sequence)
    {
        Volatile.Write(ref _applicationDataDelivered, true);
        if (sequence < 0)
        {
            return;
        }

        lock (_lock)
        {
            _window.Mark(sequence);
        }
    }

    private bool Drop()
    {
        Interlocked.Increment(ref _dropped);
        return false;
    }

    /// <summary>
    /// A self-consistent handshake fragment (alone in its record) of a message a client sends in its final flight of a
    /// full handshake (certificate, client_key_exchange, certificate_verify).
    /// </summary>
    private static bool IsFinalFlightFragment(ReadOnlySpan<byte> recordFragment) =>
        DtlsHandshakeFragment.TryRead(recordFragment, out var fragment)
        && fragment.TotalLength == recordFragment.Length
        && fragment.MessageType is DtlsHandshakeType.Certificate or DtlsHandshakeType.ClientKeyExchange or DtlsHandshakeType.CertificateVerify;
}
