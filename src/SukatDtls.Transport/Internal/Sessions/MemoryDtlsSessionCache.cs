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
        Set(sessionId.Span, session);
        return ValueTask.CompletedTask;
    }

    /// <summary>
    /// <see cref="SetAsync"/> for the handshake, which knows this cache answers at once: no task, no timeout, no giving
    /// back its CPU pass for a wait that does not happen.
    /// </summary>
    public void Set(ReadOnlySpan<byte> sessionId, DtlsSessionState session)
    {
        string key = Convert.ToHexString(sessionId);
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
    }

    public ValueTask<DtlsSessionState?> GetAsync(ReadOnlyMemory<byte> sessionId, CancellationToken cancellationToken) =>
        ValueTask.FromResult(Get(sessionId.Span));

    /// <summary><see cref="GetAsync"/> for the handshake (see <see cref="Set"/>), looked up without a key string.</summary>
    public DtlsSessionState? Get(ReadOnlySpan<byte> sessionId)
    {
        Span<char> key = stackalloc char[2 * 32];
        if (!Convert.TryToHexString(sessionId, key, out int written))
        {
            return null; // longer than a TLS 1.2 session ID can be (32 bytes): never stored
        }

        key = key[..written];
        lock (_lock)
        {
            var byId = _byId.GetAlternateLookup<ReadOnlySpan<char>>();
            if (!byId.TryGetValue(key, out var node))
            {
                return null;
            }

            if (timeProvider.GetUtcNow() - node.Value.Session.Created >= lifetime)
            {
                _byId.Remove(node.Value.Key);
                _byAge.Remove(node);
                return null;
            }

            return node.Value.Session;
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
