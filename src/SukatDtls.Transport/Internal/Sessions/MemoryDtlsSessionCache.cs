namespace SukatDtls.Transport.Internal;

/// <summary>
/// The default <see cref="IDtlsSessionCache"/>: in memory, at most <c>maxSessions</c> entries (the oldest go first)
/// and each for at most <c>lifetime</c>.
/// </summary>
internal sealed class MemoryDtlsSessionCache(int maxSessions, TimeSpan lifetime, TimeProvider timeProvider) : IDtlsSessionCache
{
    private readonly Dictionary<string, LinkedListNode<Entry>> _byId = new(StringComparer.Ordinal);
    private readonly LinkedList<Entry> _byAge = new();
    private readonly Lock _lock = new();

    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _byId.Count;
            }
        }
    }

    public ValueTask SetAsync(ReadOnlyMemory<byte> sessionId, DtlsSessionState session, CancellationToken cancellationToken)
    {
        string key = Convert.ToHexString(sessionId.Span);
        lock (_lock)
        {
            if (_byId.Remove(key, out var existing))
            {
                _byAge.Remove(existing);
            }

            _byId[key] = _byAge.AddLast(new Entry(key, session));
            while (_byId.Count > maxSessions)
            {
                var oldest = _byAge.First!;
                _byAge.RemoveFirst();
                _byId.Remove(oldest.Value.Key);
            }
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<DtlsSessionState?> GetAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
    {
        string key = Convert.ToHexString(sessionId.Span);
        lock (_lock)
        {
            if (!_byId.TryGetValue(key, out var node))
            {
                return ValueTask.FromResult<DtlsSessionState?>(null);
            }

            if (timeProvider.GetUtcNow() - node.Value.Session.Created >= lifetime)
            {
                _byId.Remove(key);
                _byAge.Remove(node);
                return ValueTask.FromResult<DtlsSessionState?>(null);
            }

            return ValueTask.FromResult<DtlsSessionState?>(node.Value.Session);
        }
    }

    public ValueTask RemoveAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken)
    {
        string key = Convert.ToHexString(sessionId.Span);
        lock (_lock)
        {
            if (_byId.Remove(key, out var node))
            {
                _byAge.Remove(node);
            }
        }

        return ValueTask.CompletedTask;
    }

    private sealed record Entry(string Key, DtlsSessionState Session);
}
