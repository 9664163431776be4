using System.Buffers;
using System.Buffers.Binary;
using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal.Ecdhe;

/// <summary>
/// The server's own ECDHE handshake (RFC 5246 §7.3 with RFC 6347's DTLS framing, RFC 8422, RFC 7627), for what
/// <see cref="EcdheServerPlan"/> accepts. A full handshake goes on from the verified ClientHello, sends ServerHello,
/// Certificate, ServerKeyExchange and ServerHelloDone as one flight, reads the client's ClientKeyExchange,
/// ChangeCipherSpec and Finished, and answers with ChangeCipherSpec and Finished. An abbreviated one (a session it
/// made, resumed) sends ServerHello, ChangeCipherSpec and Finished, and reads the client's ChangeCipherSpec and
/// Finished. The records after it are the connection's record layer's.
/// </summary>
/// <remarks>
/// <para>
/// Why not BouncyCastle's: its handshake builds and parses each message through general-purpose objects, streams and
/// dictionaries, re-parses the ClientHello the cookie check parsed, and allocates about 39 KB per handshake; the
/// common case needs one ClientHello reader, three PRF calls, one signature and one key agreement. The handshake
/// runs on the same transport, on the same handshake thread, under the same CPU gate and eviction as BouncyCastle's,
/// so everything around it is unchanged.
/// </para>
/// <para>
/// Reliability (RFC 6347 §4.2.4): the flight is sent again when the client's does not come within the retransmission
/// timeout (doubling, at most 60 s) or when the client resends its ClientHello (it lost ours), until the handshake
/// timeout; in an abbreviated handshake also until the client's Finished comes (it ends the handshake, and only our
/// resend makes a client whose Finished was lost send it again). Fragments of the ClientKeyExchange are put back
/// together; a protected Finished that overtakes it is kept until the keys are there. A full handshake's final flight,
/// if lost, is resent by the record layer (the client resends its Finished).
/// </para>
/// <para>
/// Anything that does not authenticate is dropped silently (RFC 6347 §4.1.2.7). A fatal alert from the client ends the
/// handshake; a wrong Finished or key share ends it with our alert.
/// </para>
/// </remarks>
internal sealed class EcdheServerHandshake : IDisposable
{
    private const int RandomLength = 32;
    private const int SessionIdLength = 32;
    private const int MasterSecretLength = 48;
    private const int VerifyDataLength = 12;
    private const int MaxRetransmissionMillis = 60_000;
    private const int MaxFlightSends = 16;
    private const int MaxEarlyProtectedRecords = 4;

    // An ECDHE ClientKeyExchange is a length byte and a point: 33 bytes for X25519, 66 for uncompressed P-256.
    private const int MaxClientKeyExchangeLength = 1 + 255;

    private readonly ServerPeerSettings _settings;
    private readonly EcdheServerPlan _plan;
    private readonly ClientHelloMessage _clientHello;
    private readonly HandshakeTransport _transport;
    private readonly HandshakeTranscript _transcript = new();
    private readonly List<(DtlsHandshakeType Type, int Sequence, byte[] Body)> _flight = new(4);
    private readonly List<byte[]> _earlyProtected = [];
    private readonly byte[] _record;
    private readonly byte[] _serverRandom = new byte[RandomLength];
    private readonly byte[] _sessionId;
    private readonly EcdheKeyShare? _keyShare;
    private readonly bool _resuming;
    private readonly int _clientFinishedSequence;
    private readonly byte[] _masterSecret = new byte[MasterSecretLength];
    private readonly byte[] _clientVerifyData = new byte[VerifyDataLength];

    private long _writeSequence;
    private long _deadline;
    private long _retransmission;
    private long _resendAt;
    private int _nextMessageSequence;
    private int _flightSends;
    private byte[]? _keyExchange;
    private bool[]? _keyExchangeReceived;
    private RecordCipher? _read;
    private RecordCipher? _write;
    private bool _finished;

    // The client showed it has our flight (its ClientKeyExchange came): no more resends of it.
    private bool _clientAnswered;

    // An abbreviated handshake's flight ends with ChangeCipherSpec and our Finished, kept protected for resends.
    private byte[]? _finishedRecord;

    /// <summary>A handshake from the verified ClientHello, not started yet (<see cref="Start"/>); the caller disposes it.</summary>
    public EcdheServerHandshake(ServerPeerSettings settings, EcdheServerPlan plan, ClientHelloMessage clientHello, HandshakeTransport transport)
    {
        _settings = settings;
        _plan = plan;
        _clientHello = clientHello;
        _transport = transport;
        _record = ArrayPool<byte>.Shared.Rent(DtlsConnection.MaxRecordDatagramSize);
        _writeSequence = clientHello.RecordSequence;
        _nextMessageSequence = clientHello.MessageSequence;
        _resuming = plan.ResumedSession is not null;

        // Every random value of the handshake in one draw: each call into the platform's generator costs more than the
        // bytes (about 2.5 µs on OpenSSL 3: its DRBG's lock and fork check).
        bool newSessionId = !_resuming && settings.Sessions is not null;
        int keyRandom = _resuming ? 0 : EcdheKeyShare.RandomLength(plan.NamedGroup);
        Span<byte> random = stackalloc byte[RandomLength + SessionIdLength + OpenSslX25519.KeySize];
        random = random[..(RandomLength + (newSessionId ? SessionIdLength : 0) + keyRandom)];
        RandomNumberGenerator.Fill(random);
        random[..RandomLength].CopyTo(_serverRandom);
        if (_resuming)
        {
            // RFC 5246 §7.4.1.3: the ServerHello of an abbreviated handshake repeats the session's ID.
            _sessionId = clientHello.SessionId.ToArray();
            plan.ResumedMasterSecret!.CopyTo(_masterSecret, 0);
            CryptographicOperations.ZeroMemory(plan.ResumedMasterSecret);
            _clientFinishedSequence = clientHello.MessageSequence + 1;
        }
        else
        {
            _sessionId = newSessionId ? random.Slice(RandomLength, SessionIdLength).ToArray() : [];
            try
            {
                _keyShare = EcdheKeyShare.Create(plan.NamedGroup, random[^keyRandom..]);
            }
            finally
            {
                CryptographicOperations.ZeroMemory(random[^keyRandom..]);
            }

            _clientFinishedSequence = clientHello.MessageSequence + 2;
        }
    }

    /// <summary>
    /// Runs the handshake to its end on the handshake thread (the caller holds the handshake's CPU pass): where the
    /// receive loops do not read the peer's socket, so the transport waits for the peer's datagrams.
    /// </summary>
    /// <exception cref="TlsFatalAlert">The client's key share or Finished was wrong (our alert went out).</exception>
    /// <exception cref="TlsFatalAlertReceived">The client ended the handshake with a fatal alert.</exception>
    /// <exception cref="TlsTimeoutException">The client's flight did not come within the handshake timeout.</exception>
    /// <exception cref="IOException">The connection was closed (evicted or shut down) meanwhile.</exception>
    public static CompletedHandshake Run(ServerPeerSettings settings, EcdheServerPlan plan, ClientHelloMessage clientHello, HandshakeTransport transport,
        IDtlsPeerEvents events, long started, TimeProvider timeProvider)
    {
        using var handshake = new EcdheServerHandshake(settings, plan, clientHello, transport);
        try
        {
            handshake.Start(started, timeProvider);
            handshake.WaitUntilFinished();
            return handshake.Complete(events, started, timeProvider);
        }
        catch (Exception ex)
        {
            handshake.OnFailed(events, ex);
            throw;
        }
    }

    /// <summary>The client's Finished came and matched: <see cref="Complete"/> ends the handshake.</summary>
    public bool IsFinished => _finished;

    /// <summary>When (<see cref="Environment.TickCount64"/>) <see cref="OnTimer"/> is due next: a resend of our flight, or the timeout.</summary>
    // Once the key exchange came, our flight is not resent (a lost Finished comes again with the client's own resend):
    // only the timeout is due.
    public long TimerDueAt => _clientAnswered ? _deadline : Math.Min(_resendAt, _deadline);

    /// <summary>
    /// Starts the handshake (the caller holds its CPU pass): computes our flight and sends it. The timeout counts from
    /// <paramref name="started"/>, as BouncyCastle's does: the flight's computing is part of it.
    /// </summary>
    public void Start(long started, TimeProvider timeProvider)
    {
        _transcript.AddMessage(_clientHello.Message.Span);
        if (_resuming)
        {
            WriteResumedFlight();
        }
        else
        {
            WriteServerFlight();
        }

        SendFlight();
        long now = Environment.TickCount64;
        _deadline = now + (long)(_settings.Options.HandshakeTimeout - timeProvider.GetElapsedTime(started)).TotalMilliseconds;
        _retransmission = Math.Max(1, (long)_settings.Options.HandshakeRetransmissionTimeout.TotalMilliseconds);
        _resendAt = now + _retransmission;
    }

    /// <summary>The time came (<see cref="TimerDueAt"/>): our flight is sent again when the client's did not come.</summary>
    /// <exception cref="TlsTimeoutException">The handshake timeout passed.</exception>
    public void OnTimer(long now)
    {
        if (now >= _deadline)
        {
            throw new TlsTimeoutException("Handshake timed out");
        }

        if (now >= _resendAt && !_clientAnswered)
        {
            // The client's flight did not come: ours (or its) was lost.
            SendFlight();
            _retransmission = Math.Min(_retransmission * 2, MaxRetransmissionMillis);
            _resendAt = now + _retransmission;
        }
    }

    /// <summary>
    /// A datagram from the client, its records in turn: returns how many bytes the handshake took — all of them, unless
    /// the client's Finished came before the datagram's end (the rest, its first application records, is the record
    /// layer's). Application records before that are kept for the record layer (<see cref="HandshakeTransport.KeepEarlyRecord"/>).
    /// </summary>
    /// <exception cref="TlsFatalAlert">The client's key share or Finished was wrong.</exception>
    /// <exception cref="TlsFatalAlertReceived">The client ended the handshake with a fatal alert.</exception>
    public int OnDatagram(Span<byte> datagram)
    {
        int offset = 0;
        while (offset < datagram.Length && !_finished)
        {
            var rest = datagram[offset..];
            if (!DtlsRecord.TryRead(rest, out var record))
            {
                // The rest does not frame as a record: nobody can read it.
                return datagram.Length;
            }

            int length = record.Whole.Length;
            if (HandshakeTransport.IsEarlyApplicationRecord(record))
            {
                _transport.KeepEarlyRecord(rest[..length]);
            }
            else
            {
                OnRecord(rest[..length]);
            }

            offset += length;
        }

        return offset;
    }

    /// <summary>
    /// Ends a finished handshake: a full one with our ChangeCipherSpec and Finished, and its session kept for
    /// resumption. The record layer goes on from here.
    /// </summary>
    /// <param name="events">The connection.</param>
    /// <param name="started">When the handshake started, for its duration.</param>
    /// <param name="timeProvider">The clock of <paramref name="started"/>.</param>
    /// <param name="waitForStore">
    /// Whether to wait (bounded) for the session cache to take the new session: on a handshake thread; on a receive
    /// loop, which must never wait, the store goes on in the background.
    /// </param>
    public CompletedHandshake Complete(IDtlsPeerEvents events, long started, TimeProvider timeProvider, bool waitForStore = true)
    {
        if (!_resuming)
        {
            // Our ChangeCipherSpec and Finished end a full handshake (an abbreviated one ended with the client's).
            SendFinalFlight();
            _transport.Flush();
            StoreSession(events, waitForStore);
        }

        var records = new DtlsRecordLayer(_read!, _write!, _transport.NextEpoch1Sequence, _transport.TakeFinalFlight());
        _read = _write = null; // the record layer owns them now
        return CompletedHandshake.CreateOwn(records, _plan.CipherSuite, _resuming, timeProvider.GetElapsedTime(started));
    }

    /// <summary>
    /// The handshake failed with <paramref name="error"/>: our alert goes out where one is due (a wrong key share or
    /// Finished, the timeout) and a resumed session that failed is forgotten. Nothing for a closed connection.
    /// </summary>
    public void OnFailed(IDtlsPeerEvents events, Exception error)
    {
        switch (error)
        {
            case TlsFatalAlert alert:
                Fail(events, alert.AlertDescription, alert.Message, alert);
                break;
            case TlsFatalAlertReceived alert:
                ForgetResumedSession(events, alert.AlertDescription);
                break;
            case TlsTimeoutException timeout:
                // As BouncyCastle's handshake ends on its timeout: with internal_error, so the client stops too.
                Fail(events, AlertDescription.internal_error, timeout.Message, cause: null);
                break;
        }
    }

    /// <summary>Our fatal alert ends the handshake: sent, reported to the connection, and the resumed session forgotten.</summary>
    private void Fail(IDtlsPeerEvents events, short alertDescription, string message, Exception? cause)
    {
        SendAlert(alertDescription);
        events.OnAlertRaised(AlertLevel.fatal, alertDescription, message, cause);
        ForgetResumedSession(events, alertDescription);
    }

    /// <summary>RFC 5246 §7.2.2: a session whose resumption ended with a fatal alert is not resumed again.</summary>
    private void ForgetResumedSession(IDtlsPeerEvents events, short alertDescription)
    {
        if (_plan.ResumedSession is { } session)
        {
            session.Invalidate();
            ServerSessionStore.Forget(_settings, events, session.SessionID, alertDescription);
        }
    }

    /// <summary>On the handshake thread: receives the client's records until its Finished, resending on the timer.</summary>
    private void WaitUntilFinished()
    {
        byte[] received = ArrayPool<byte>.Shared.Rent(DtlsConnection.MaxRecordDatagramSize);
        try
        {
            while (!_finished)
            {
                long now = Environment.TickCount64;
                long due = TimerDueAt;
                if (now >= due)
                {
                    OnTimer(now);
                    continue;
                }

                int length = _transport.Receive(received, (int)Math.Max(1, due - now));
                if (length >= 0)
                {
                    OnRecord(received.AsSpan(0, length));
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(received);
        }
    }

    /// <summary>
    /// An abbreviated handshake's flight (RFC 5246 §7.3): ServerHello, then — the keys come from the session's master
    /// secret — ChangeCipherSpec and our Finished at once.
    /// </summary>
    private void WriteResumedFlight()
    {
        AddFlightMessage(DtlsHandshakeType.ServerHello, ServerHelloBody());
        DeriveKeys();

        bool sha384 = _plan.UsesSha384;
        Span<byte> hash = stackalloc byte[48];
        hash = hash[.._transcript.Hash(sha384, hash)];
        Span<byte> verifyData = stackalloc byte[VerifyDataLength];
        Tls12Prf.Compute(sha384, _masterSecret, "server finished", hash, verifyData);
        int sequence = _nextMessageSequence++;
        _finishedRecord = ProtectedFinished(sequence, verifyData).ToArray();
        _transcript.Add(DtlsHandshakeType.Finished, sequence, verifyData);

        hash = stackalloc byte[48];
        hash = hash[.._transcript.Hash(sha384, hash)];
        Tls12Prf.Compute(sha384, _masterSecret, "client finished", hash, _clientVerifyData);
    }

    /// <summary>The key block from the master secret and both randoms (RFC 5246 §6.3), and the two record ciphers.</summary>
    private void DeriveKeys()
    {
        // AEAD suites only: two keys of at most 32 bytes and two implicit IVs of at most 12.
        Span<byte> keyBlock = stackalloc byte[_plan.RecordSuite.KeyBlockLength];
        try
        {
            Span<byte> randoms = stackalloc byte[2 * RandomLength];
            _serverRandom.CopyTo(randoms);
            _clientHello.Random.Span.CopyTo(randoms[RandomLength..]);
            Tls12Prf.Compute(_plan.UsesSha384, _masterSecret, "key expansion", randoms, keyBlock);
            _read = _plan.RecordSuite.CreateCipher(keyBlock, client: true, encryptThenMac: false, connectionId: []);
            _write = _plan.RecordSuite.CreateCipher(keyBlock, client: false, encryptThenMac: false, connectionId: []);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(keyBlock);
        }
    }

    /// <summary>ServerHello, Certificate, ServerKeyExchange and ServerHelloDone (RFC 5246 §7.4.1.3–§7.4.5), into the transcript.</summary>
    private void WriteServerFlight()
    {
        AddFlightMessage(DtlsHandshakeType.ServerHello, ServerHelloBody());
        AddFlightMessage(DtlsHandshakeType.Certificate, _plan.Credentials!.CertificateMessageBody);
        AddFlightMessage(DtlsHandshakeType.ServerKeyExchange, ServerKeyExchangeBody());
        AddFlightMessage(DtlsHandshakeType.ServerHelloDone, []);
    }

    private void AddFlightMessage(DtlsHandshakeType type, byte[] body)
    {
        int sequence = _nextMessageSequence++;
        _transcript.Add(type, sequence, body);
        _flight.Add((type, sequence, body));
    }

    /// <summary>
    /// The ServerHello's extensions, which answer what the client offered (RFC 5746 §3.6, RFC 7627 §5.1, RFC 8422 §5.2)
    /// and nothing else; a stored session keeps the same.
    /// </summary>
    private Dictionary<int, byte[]> ServerExtensions()
    {
        var extensions = new Dictionary<int, byte[]>(3);
        if (_clientHello.OffersSecureRenegotiation)
        {
            extensions[ExtensionType.renegotiation_info] = [0]; // renegotiated_connection: empty in an initial handshake
        }

        extensions[ExtensionType.extended_master_secret] = [];
        if (_clientHello.SentPointFormats)
        {
            extensions[ExtensionType.ec_point_formats] = [1, (byte)ECPointFormat.uncompressed];
        }

        return extensions;
    }

    private byte[] ServerHelloBody()
    {
        var extensions = ServerExtensions();
        int extensionsLength = extensions.Values.Sum(static data => 4 + data.Length);
        byte[] body = new byte[2 + RandomLength + 1 + _sessionId.Length + 2 + 1 + 2 + extensionsLength];
        var writer = new SpanWriter(body);
        writer.UInt16(DtlsRecord.Dtls12);
        writer.Bytes(_serverRandom);
        writer.Byte((byte)_sessionId.Length);
        writer.Bytes(_sessionId);
        writer.UInt16((ushort)_plan.CipherSuite);
        writer.Byte(0); // null compression
        writer.UInt16((ushort)extensionsLength);
        foreach (var (type, data) in extensions)
        {
            writer.UInt16((ushort)type);
            writer.UInt16((ushort)data.Length);
            writer.Bytes(data);
        }

        return body;
    }

    /// <summary>ServerECDHParams and their signature over both randoms (RFC 8422 §5.4, RFC 5246 §7.4.3).</summary>
    private byte[] ServerKeyExchangeBody()
    {
        // A full handshake's plan has a key share, a certificate and a signature scheme.
        var publicKey = _keyShare!.PublicKey;
        var signatureScheme = _plan.Signature!;
        int paramsLength = 1 + 2 + 1 + publicKey.Length;
        Span<byte> signed = stackalloc byte[(2 * RandomLength) + 4 + 133];
        var signedWriter = new SpanWriter(signed);
        signedWriter.Bytes(_clientHello.Random.Span);
        signedWriter.Bytes(_serverRandom);
        signedWriter.Byte((byte)ECCurveType.named_curve);
        signedWriter.UInt16((ushort)_plan.NamedGroup);
        signedWriter.Byte((byte)publicKey.Length);
        signedWriter.Bytes(publicKey);
        var toSign = signed[..signedWriter.Position];

        Span<byte> hash = stackalloc byte[64];
        int hashLength = signatureScheme.Hash switch
        {
            Org.BouncyCastle.Tls.HashAlgorithm.sha256 => SHA256.HashData(toSign, hash),
            Org.BouncyCastle.Tls.HashAlgorithm.sha384 => SHA384.HashData(toSign, hash),
            _ => SHA512.HashData(toSign, hash),
        };

        byte[] signature = _plan.Credentials!.CreatePlatformSigner(signatureScheme).GenerateRawSignature(hash[..hashLength].ToArray());
        byte[] body = new byte[paramsLength + 2 + 2 + signature.Length];
        toSign[(2 * RandomLength)..].CopyTo(body);
        var writer = new SpanWriter(body.AsSpan(paramsLength));
        writer.Byte((byte)signatureScheme.Hash);
        writer.Byte((byte)signatureScheme.Signature);
        writer.UInt16((ushort)signature.Length);
        writer.Bytes(signature);
        return body;
    }

    /// <summary>Sends the server's flight, packed into as few datagrams as fit and fragmented where a message does not.</summary>
    private void SendFlight()
    {
        if (++_flightSends > MaxFlightSends)
        {
            return;
        }

        foreach (var (type, sequence, body) in _flight)
        {
            SendHandshakeMessage(type, sequence, body);
        }

        if (_finishedRecord is not null)
        {
            SendChangeCipherSpec();
            _transport.Send(_finishedRecord);
        }

        // The flight is complete: what is packed leaves now, and only a later flight is a final one.
        _transport.EndFlight();
    }

    private void SendHandshakeMessage(DtlsHandshakeType type, int sequence, ReadOnlySpan<byte> body)
    {
        int maxFragment = Math.Max(1, _transport.GetSendLimit() - DtlsRecord.HeaderLength - DtlsHandshakeFragment.HeaderLength);
        int offset = 0;
        do
        {
            int fragmentLength = Math.Min(maxFragment, body.Length - offset);
            var record = PlaintextRecord(DtlsContentType.Handshake, DtlsHandshakeFragment.HeaderLength + fragmentLength);
            DtlsHandshakeFragment.WriteHeader(record[DtlsRecord.HeaderLength..], type, body.Length, sequence, offset, fragmentLength);
            body.Slice(offset, fragmentLength).CopyTo(record[(DtlsRecord.HeaderLength + DtlsHandshakeFragment.HeaderLength)..]);
            _transport.Send(record);
            offset += fragmentLength;
        }
        while (offset < body.Length);
    }

    /// <summary>An epoch-0 record of <paramref name="length"/> bytes of content in the scratch buffer, its header written.</summary>
    private Span<byte> PlaintextRecord(DtlsContentType type, int length)
    {
        var record = _record.AsSpan(0, DtlsRecord.HeaderLength + length);
        DtlsRecord.WriteHeader(record, type, DtlsRecord.Dtls12, _writeSequence++, length); // epoch 0
        return record;
    }

    private void OnRecord(Span<byte> datagramRecord)
    {
        if (!DtlsRecord.TryRead(datagramRecord, out var record))
        {
            return;
        }

        if (record.Version != DtlsRecord.Dtls12 && !ClientHelloRecord.IsClientHello(record.Whole))
        {
            // Only a resent ClientHello may come in another record version (a client that has not seen our ServerHello
            // writes DTLS 1.0's); everything else is DTLS 1.2's from the ServerHello on. BouncyCastle drops the rest
            // too, an alert from a client that gave up before our flight reached it among them.
            return;
        }

        if (record.Epoch == 0)
        {
            switch (record.ContentType)
            {
                case DtlsContentType.Handshake:
                    OnPlaintextHandshake(record.Fragment);
                    break;
                case DtlsContentType.Alert:
                    OnAlert(record.Fragment);
                    break;
            }

            // ChangeCipherSpec carries nothing the Finished does not prove: the client's protected Finished follows it.
            return;
        }

        if (record.Epoch != DtlsRecordLayer.Epoch || record.ContentType == DtlsContentType.Tls12Cid)
        {
            return;
        }

        if (_read is null)
        {
            // Overtook the ClientKeyExchange: kept (a few) until the keys are there.
            if (_earlyProtected.Count < MaxEarlyProtectedRecords)
            {
                _earlyProtected.Add(record.Whole.ToArray());
            }

            return;
        }

        OnProtected(datagramRecord[..record.Whole.Length], record.HeaderSize, record.ContentType, record.EpochAndSequence, record.Version);
    }

    private void OnPlaintextHandshake(ReadOnlySpan<byte> fragments)
    {
        while (DtlsHandshakeFragment.TryRead(fragments, out var fragment))
        {
            fragments = fragments[fragment.TotalLength..];
            if (fragment.MessageType == DtlsHandshakeType.ClientHello && fragment.MessageSequence == _clientHello.MessageSequence)
            {
                // The client resent its ClientHello: our flight was lost (RFC 6347 §4.2.4). Resend it once per
                // ClientHello message (its first fragment), so a fragmented one does not multiply our answer.
                if (!_clientAnswered && fragment.FragmentOffset == 0)
                {
                    SendFlight();
                }
            }
            else if (fragment.MessageType == DtlsHandshakeType.ClientKeyExchange && fragment.MessageSequence == _clientHello.MessageSequence + 1
                && !_resuming && !_clientAnswered)
            {
                OnClientKeyExchangeFragment(fragment);
            }
        }
    }

    private void OnClientKeyExchangeFragment(DtlsHandshakeFragment fragment)
    {
        if (fragment.MessageLength > MaxClientKeyExchangeLength)
        {
            throw new TlsFatalAlert(AlertDescription.decode_error, "the ClientKeyExchange is too long for an ECDHE key");
        }

        if (fragment.IsWholeMessage)
        {
            OnClientKeyExchange(fragment.Body);
            return;
        }

        if (_keyExchange is null || _keyExchange.Length != fragment.MessageLength)
        {
            _keyExchange = new byte[fragment.MessageLength];
            _keyExchangeReceived = new bool[fragment.MessageLength];
        }

        fragment.Body.CopyTo(_keyExchange.AsSpan(fragment.FragmentOffset));
        _keyExchangeReceived.AsSpan(fragment.FragmentOffset, fragment.Body.Length).Fill(true);
        if (!_keyExchangeReceived.AsSpan().Contains(false))
        {
            OnClientKeyExchange(_keyExchange);
        }
    }

    /// <summary>The client's key share: the premaster secret, the master secret (RFC 7627), the record keys.</summary>
    private void OnClientKeyExchange(ReadOnlySpan<byte> body)
    {
        if (body.Length < 2 || body[0] != body.Length - 1)
        {
            throw new TlsFatalAlert(AlertDescription.decode_error, "malformed ClientKeyExchange");
        }

        Span<byte> premaster = stackalloc byte[_keyShare!.SecretLength];
        Span<byte> sessionHash = stackalloc byte[48];
        try
        {
            if (!_keyShare.TryAgree(body[1..], premaster))
            {
                throw new TlsFatalAlert(AlertDescription.illegal_parameter, "the client's ECDHE public key is not valid");
            }

            _transcript.Add(DtlsHandshakeType.ClientKeyExchange, _clientHello.MessageSequence + 1, body);
            bool sha384 = _plan.UsesSha384;
            sessionHash = sessionHash[.._transcript.Hash(sha384, sessionHash)];
            Tls12Prf.Compute(sha384, premaster, "extended master secret", sessionHash, _masterSecret);
            DeriveKeys();

            // No CertificateVerify comes between: the client's Finished covers the same messages as the session hash.
            Tls12Prf.Compute(sha384, _masterSecret, "client finished", sessionHash, _clientVerifyData);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(premaster);
        }

        _clientAnswered = true;
        _keyExchange = null;
        _keyExchangeReceived = null;
        foreach (byte[] early in _earlyProtected)
        {
            if (!_finished && DtlsRecord.TryRead(early, out var record))
            {
                OnProtected(early, record.HeaderSize, record.ContentType, record.EpochAndSequence, record.Version);
            }
        }

        _earlyProtected.Clear();
    }

    /// <summary>An epoch-1 record: the client's Finished, or an alert. Records that do not authenticate are dropped.</summary>
    private void OnProtected(Span<byte> record, int headerSize, DtlsContentType recordType, long epochAndSequence, ushort version)
    {
        var fragment = record[headerSize..];
        if (_finished || !_read!.TryOpen(fragment, recordType, epochAndSequence, version, out var contentType, out int offset, out int length))
        {
            return;
        }

        var content = fragment.Slice(offset, length);
        if (contentType == DtlsContentType.Alert)
        {
            OnAlert(content);
            return;
        }

        if (contentType != DtlsContentType.Handshake || !DtlsHandshakeFragment.TryRead(content, out var finished)
            || finished.MessageType != DtlsHandshakeType.Finished || finished.MessageSequence != _clientFinishedSequence)
        {
            return;
        }

        if (!finished.IsWholeMessage || finished.MessageLength != VerifyDataLength
            || !CryptographicOperations.FixedTimeEquals(finished.Body, _clientVerifyData))
        {
            // It authenticated under the keys of this handshake, so it is the client's: its transcript differs from ours.
            throw new TlsFatalAlert(AlertDescription.decrypt_error, "the client's Finished does not match the handshake");
        }

        _transcript.Add(DtlsHandshakeType.Finished, finished.MessageSequence, finished.Body);
        _finished = true;
    }

    private static void OnAlert(ReadOnlySpan<byte> alert)
    {
        // A warning is no reason to stop (and a close_notify mid-handshake ends it as a fatal one would).
        if (alert.Length == 2 && (alert[0] == AlertLevel.fatal || alert[1] == AlertDescription.close_notify))
        {
            throw new TlsFatalAlertReceived(alert[1]);
        }
    }

    /// <summary>ChangeCipherSpec and our Finished (the first record of epoch 1), after the client's Finished.</summary>
    private void SendFinalFlight()
    {
        Span<byte> transcriptHash = stackalloc byte[48];
        bool sha384 = _plan.UsesSha384;
        transcriptHash = transcriptHash[.._transcript.Hash(sha384, transcriptHash)];
        Span<byte> verifyData = stackalloc byte[VerifyDataLength];
        Tls12Prf.Compute(sha384, _masterSecret, "server finished", transcriptHash, verifyData);

        SendChangeCipherSpec();
        _transport.Send(ProtectedFinished(_nextMessageSequence++, verifyData));
    }

    private void SendChangeCipherSpec()
    {
        PlaintextRecord(DtlsContentType.ChangeCipherSpec, 1)[DtlsRecord.HeaderLength] = 1;
        _transport.Send(_record.AsSpan(0, DtlsRecord.HeaderLength + 1));
    }

    /// <summary>Our Finished, protected as the first record of epoch 1, in the scratch buffer.</summary>
    private Span<byte> ProtectedFinished(int messageSequence, ReadOnlySpan<byte> verifyData)
    {
        var write = _write!;
        int plaintextLength = DtlsHandshakeFragment.HeaderLength + VerifyDataLength;
        var plaintext = _record.AsSpan(DtlsRecord.HeaderLength + write.PlaintextOffset, plaintextLength);
        DtlsHandshakeFragment.WriteHeader(plaintext, DtlsHandshakeType.Finished, VerifyDataLength, messageSequence, 0, VerifyDataLength);
        verifyData.CopyTo(plaintext[DtlsHandshakeFragment.HeaderLength..]);

        const long epochAndSequence = (long)DtlsRecordLayer.Epoch << 48;
        int fragmentLength = write.Seal(_record.AsSpan(DtlsRecord.HeaderLength), plaintextLength, DtlsContentType.Handshake, epochAndSequence,
            DtlsRecord.Dtls12);
        var record = _record.AsSpan(0, DtlsRecord.HeaderLength + fragmentLength);
        DtlsRecord.WriteHeader(record, DtlsContentType.Handshake, DtlsRecord.Dtls12, epochAndSequence, fragmentLength);
        return record;
    }

    /// <summary>A fatal alert in the clear (the client has no keys of ours before our Finished).</summary>
    private void SendAlert(short description)
    {
        var record = PlaintextRecord(DtlsContentType.Alert, 2);
        record[DtlsRecord.HeaderLength] = (byte)AlertLevel.fatal;
        record[DtlsRecord.HeaderLength + 1] = (byte)description;
        _transport.Send(record);
        _transport.Flush();
    }

    /// <summary>
    /// Keeps the session for resumption, as BouncyCastle's handshake would have: a <see cref="TlsSession"/> with the
    /// same parameters, so either handshake resumes it (ours through <see cref="EcdheServerPlan.ForResumption"/>).
    /// </summary>
    private void StoreSession(IDtlsPeerEvents events, bool wait)
    {
        if (_settings.Sessions is null || _sessionId.Length == 0)
        {
            return;
        }

        var parameters = new SessionParameters.Builder()
            .SetCipherSuite(_plan.CipherSuite)
            .SetExtendedMasterSecret(true)
            .SetLocalCertificate(_plan.Credentials!.Chain)
            .SetMasterSecret(_settings.Crypto.CreateSecret(_masterSecret))
            .SetNegotiatedVersion(ProtocolVersion.DTLSv12)
            .SetServerExtensions(ServerExtensions())
            .Build();
        ServerSessionStore.Store(_settings, events, TlsUtilities.ImportSession(_sessionId, parameters), wait);
    }

    public void Dispose()
    {
        _keyShare?.Dispose();
        _transcript.Dispose();
        _read?.Dispose();
        _write?.Dispose();
        CryptographicOperations.ZeroMemory(_masterSecret);
        CryptographicOperations.ZeroMemory(_clientVerifyData);
        ArrayPool<byte>.Shared.Return(_record);
    }

    /// <summary>Writes big-endian fields one after another.</summary>
    private ref struct SpanWriter(Span<byte> destination)
    {
        private readonly Span<byte> _destination = destination;

        public int Position { get; private set; }

        public void Byte(byte value) => _destination[Position++] = value;

        public void UInt16(ushort value)
        {
            BinaryPrimitives.WriteUInt16BigEndian(_destination[Position..], value);
            Position += 2;
        }

        public void Bytes(ReadOnlySpan<byte> value)
        {
            value.CopyTo(_destination[Position..]);
            Position += value.Length;
        }
    }
}
