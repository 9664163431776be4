namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// The message IDs one peer used lately, with what we answered (RFC 7252 §4.5): a Confirmable message that comes again
/// (its ACK was lost, so the peer retransmits it with the same ID) gets the same answer, and the request is not
/// executed twice. Each DTLS connection is one peer, so one cache per connection is "per peer".
/// </summary>
/// <remarks>
/// Bounded both ways: an entry lives EXCHANGE_LIFETIME (247 s, RFC 7252 §4.8.2: the longest a peer may retransmit),
/// and at most <see cref="Capacity"/> are kept (the oldest go first); a peer needs no more, since it waits for each
/// answer (NSTART 1, §4.7).
/// </remarks>
internal sealed class CoapDuplicateCache(TimeProvider timeProvider)
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromSeconds(247);

    public const int Capacity = 64;

    private readonly Dictionary<ushort, (byte[]? Answer, long Stored)> _entries = [];
    private readonly Queue<ushort> _order = new();

    /// <summary>Whether <paramref name="messageId"/> came within the lifetime; <paramref name="answer"/> is what we sent then (null: nothing).</summary>
    public bool TryGet(ushort messageId, out byte[]? answer)
    {
        Expire();
        if (_entries.TryGetValue(messageId, out var entry))
        {
            answer = entry.Answer;
            return true;
        }

        answer = null;
        return false;
    }

    /// <summary>Remembers <paramref name="messageId"/> and the answer sent to it.</summary>
    public void Add(ushort messageId, byte[]? answer)
    {
        Expire();
        if (_entries.Count >= Capacity && _order.TryDequeue(out ushort oldest))
        {
            _entries.Remove(oldest);
        }

        if (_entries.TryAdd(messageId, (answer, timeProvider.GetTimestamp())))
        {
            _order.Enqueue(messageId);
        }
    }

    public int Count => _entries.Count;

    private void Expire()
    {
        while (_order.TryPeek(out ushort oldest) && timeProvider.GetElapsedTime(_entries[oldest].Stored) >= Lifetime)
        {
            _order.Dequeue();
            _entries.Remove(oldest);
        }
    }
}
