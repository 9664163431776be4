namespace SukatDtls.Transport.Internal;

/// <summary>
/// Where each received record ends in the input pipe, so that the datagram view can hand out exactly one record per
/// call from the same pipe. Bounded: a connection that reads through the pipe never drains it, so past the cap it
/// stops tracking (the datagram view then reports that record boundaries are lost); once the datagram view is in use,
/// a record beyond the cap is dropped instead, as a full socket buffer drops a datagram.
/// </summary>
internal sealed class RecordBoundaries
{
    public const int Capacity = 4096;

    private readonly Queue<int> _lengths = new();
    private readonly Lock _lock = new();
    private bool _used;
    private bool _lost;

    public bool IsLost
    {
        get
        {
            lock (_lock)
            {
                return _lost;
            }
        }
    }

    /// <summary>Records a received record of <paramref name="length"/> bytes; false means "drop this record".</summary>
    public bool TryAdd(int length)
    {
        lock (_lock)
        {
            if (_lost)
            {
                return true;
            }

            if (_lengths.Count < Capacity)
            {
                _lengths.Enqueue(length);
                return true;
            }

            if (_used)
            {
                return false;
            }

            _lost = true;
            _lengths.Clear();
            _lengths.TrimExcess();
            return true;
        }
    }

    /// <summary>Marks the datagram view as used and returns the length of the next record, if one is known.</summary>
    public bool TryPeek(out int length)
    {
        lock (_lock)
        {
            _used = true;
            if (_lost)
            {
                throw new InvalidOperationException(
                    $"Record boundaries were lost: more than {Capacity} records were read through Transport.Input or queued before the datagram view was first used. Receive through one of the two only.");
            }

            return _lengths.TryPeek(out length);
        }
    }

    public void Remove()
    {
        lock (_lock)
        {
            _lengths.TryDequeue(out _);
        }
    }
}
