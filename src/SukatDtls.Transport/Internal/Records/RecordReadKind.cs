namespace SukatDtls.Transport.Internal;

/// <summary>What <see cref="DtlsRecordLayer.ReadNext"/> found in a datagram.</summary>
internal enum RecordReadKind
{
    /// <summary>No more records in the datagram.</summary>
    End,

    /// <summary>An authenticated application data record: its content is the plaintext.</summary>
    ApplicationData,

    /// <summary>An authenticated alert: its two bytes are the plaintext.</summary>
    Alert,

    /// <summary>
    /// The peer resent its last handshake flight (its authenticated Finished): our final flight was lost, resend it
    /// (<see cref="DtlsRecordLayer.TakeFinalFlight"/>).
    /// </summary>
    PeerRetransmittedFlight,

    /// <summary>Dropped: framing, epoch, version or Connection ID wrong; the rest of the datagram is dropped with it.</summary>
    Malformed,

    /// <summary>Dropped: an epoch-0 record (the peer's retransmitted handshake flight, in plaintext, unauthenticated).</summary>
    Plaintext,

    /// <summary>Dropped: its sequence number was seen, or is too old to tell (RFC 6347 §4.1.2.6).</summary>
    Replay,

    /// <summary>Dropped: it did not authenticate (forged, damaged, or for another epoch's keys).</summary>
    Forged,

    /// <summary>Dropped: it authenticated, but its content type has no use here (e.g. a late ChangeCipherSpec).</summary>
    Unexpected,
}
