namespace SukatDtls.Transport.Internal;

/// <summary>
/// Where each received record ends in the input pipe, so that the datagram view can hand out exactly one record per
/// call from the same pipe. Every byte consumed from the pipe, through either view, is reported here, so the two
/// views never disagree: a record partly read through the pipe leaves its remainder as the next "record".
/// Bounded: beyond <see cref="Capacity"/> unread records, a new record is dropped, as a full socket buffer drops a
/// datagram.
/// </summary>
internal sealed class RecordBoundaries
{
    public const int Capacity = 4096;

    private readonly Queue<int> _lengths = new();
    private readonly Lock _lock = new();
    private int _consumedOfFirst;

    /// <summary>Records a received record of <paramref name="length"/> bytes; false means "no room: drop it".</summary>
    public bool TryAdd(int length)
    {
        lock (_lock)
        {
            if (_lengths.Count >= Capacity)
            {
                return false;
            }

            _lengths.Enqueue(length);
            return true;
        }
    }

    /// <summary>The unread length of the first unread record, if any.</summary>
    public bool TryPeek(out int length)
    {
        lock (_lock)
        {
            if (_lengths.TryPeek(out int first))
            {
                length = first - _consumedOfFirst;
                return true;
            }

            length = 0;
            return false;
        }
    }

    /// <summary>The application consumed <paramref name="bytes"/> bytes from the input pipe.</summary>
    public void OnConsumed(long bytes)
    {
        lock (_lock)
        {
            while (bytes > 0 && _lengths.TryPeek(out int first))
            {
                int remaining = first - _consumedOfFirst;
                if (bytes >= remaining)
                {
                    _lengths.Dequeue();
                    _consumedOfFirst = 0;
                    bytes -= remaining;
                }
                else
                {
                    _consumedOfFirst += (int)bytes;
                    bytes = 0;
                }
            }
        }
    }
}
