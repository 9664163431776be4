namespace SukatDtls.Transport.Features;

/// <summary>
/// Whole-record access to a DTLS connection, for protocols whose messages are datagrams (CoAP, game state, voice):
/// each <see cref="SendAsync"/> sends exactly one DTLS record and each <see cref="ReceiveAsync"/> returns exactly one
/// received record.
/// </summary>
/// <remarks>
/// <para>
/// The datagram view and the connection's pipes share one stream of records. Received records are written to
/// <c>ConnectionContext.Transport.Input</c> in arrival order, and the transport remembers where each record ends;
/// <see cref="ReceiveAsync"/> takes exactly the next record out of that same pipe. The two may be mixed: bytes consumed
/// through the pipe are gone for the datagram view, and a record partly consumed through the pipe comes out of
/// <see cref="ReceiveAsync"/> as its unread remainder. An application that falls more than 4096 records behind loses
/// new records, as a full socket buffer loses datagrams.
/// </para>
/// <para>
/// <see cref="SendAsync"/> sends one record immediately, beside <c>Transport.Output</c>, which cuts what it is given into
/// records of at most <see cref="MaxRecordSize"/> bytes. The two are not ordered with respect to each other unless the
/// caller awaits one before using the other.
/// </para>
/// <para>DTLS is not reliable: a record lost on the network is lost, for the pipes and the datagram view alike.</para>
/// </remarks>
public interface IDtlsDatagramFeature
{
    /// <summary>The largest application payload one record that we send can carry on this connection now.</summary>
    int MaxRecordSize { get; }

    /// <summary>
    /// The largest application payload a record from the peer can carry (the peer sizes its own records, up to 2^14
    /// bytes). A <see cref="ReceiveAsync"/> buffer of this size never is too small.
    /// </summary>
    int MaxReceiveRecordSize { get; }

    /// <summary>
    /// Receives the next whole record into <paramref name="buffer"/> and returns its length.
    /// Returns 0 with <see cref="IsCompleted"/> set once the peer closed the connection (close_notify).
    /// </summary>
    /// <exception cref="ArgumentException">
    /// The next record is longer than <paramref name="buffer"/>; nothing was consumed, so call again with a buffer of
    /// at least <see cref="MaxReceiveRecordSize"/> bytes.
    /// </exception>
    ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken = default);

    /// <summary>Sends <paramref name="record"/> as exactly one DTLS record.</summary>
    /// <exception cref="ArgumentException">The record is longer than <see cref="MaxRecordSize"/>.</exception>
    ValueTask SendAsync(ReadOnlyMemory<byte> record, CancellationToken cancellationToken = default);

    /// <summary>True once no more records will arrive.</summary>
    bool IsCompleted { get; }
}
