namespace SukatDtls.Transport.Internal;

/// <summary>
/// The anti-replay window of RFC 6347 §4.1.2.6: the highest sequence number received in the current epoch and a
/// 64-bit mask of the ones before it. A record is a replay when its number was seen, or lies more than 64 behind the
/// highest. Mark only records that authenticated: a forged record with a high number must not move the window.
/// </summary>
/// <remarks>A mutable struct: keep it in a field and call it through that field (not thread-safe; the owner serialises).</remarks>
internal struct ReplayWindow
{
    public const int Size = 64;

    private long _highest;
    private ulong _seen; // bit i: _highest - i was received

    public ReplayWindow()
    {
        _highest = -1;
    }

    /// <summary>The highest sequence number marked so far, or -1.</summary>
    public readonly long Highest => _highest;

    /// <summary>Whether a record with this sequence number must be dropped: seen before, or too old to tell.</summary>
    public readonly bool IsReplay(long sequence)
    {
        if (_highest < 0 || sequence > _highest)
        {
            return false;
        }

        long offset = _highest - sequence;
        return offset >= Size || (_seen & (1UL << (int)offset)) != 0;
    }

    /// <summary>Remembers an authenticated record's sequence number.</summary>
    public void Mark(long sequence)
    {
        if (sequence > _highest)
        {
            long shift = sequence - _highest;
            _seen = shift >= Size ? 1UL : (_seen << (int)shift) | 1UL;
            _highest = sequence;
        }
        else
        {
            long offset = _highest - sequence;
            if (offset < Size)
            {
                _seen |= 1UL << (int)offset;
            }
        }
    }
}
