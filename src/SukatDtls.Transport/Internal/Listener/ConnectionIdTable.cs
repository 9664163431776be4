using System.Collections.Concurrent;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The listener's Connection IDs (RFC 9146): each live connection that negotiated one, by its ID. A record whose peer
/// moved to another address reaches the listening socket, and is handed to its connection by this lookup. IDs are
/// random (CSPRNG) and unique among the live connections; all have the listener's fixed length, so an ID read from a
/// record header is a key as it is, and a lookup allocates nothing.
/// </summary>
internal sealed class ConnectionIdTable(int length)
{
    private readonly ConcurrentDictionary<UInt128, DtlsConnection> _connections = new();

    /// <summary>The length of every ID here (4 to 16 bytes).</summary>
    public int Length { get; } = length;

    public int Count => _connections.Count;

    /// <summary>A new random ID for <paramref name="connection"/>, registered at once (so no other handshake gets it).</summary>
    public byte[] Reserve(DtlsConnection connection)
    {
        var id = new byte[Length];
        while (true)
        {
            RandomNumberGenerator.Fill(id);
            if (_connections.TryAdd(Key(id), connection))
            {
                return id;
            }
        }
    }

    /// <summary>The connection that owns <paramref name="id"/>, if any.</summary>
    public bool TryGet(ReadOnlySpan<byte> id, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out DtlsConnection connection)
    {
        connection = null;
        return id.Length == Length && _connections.TryGetValue(Key(id), out connection);
    }

    /// <summary>Forgets <paramref name="id"/> if it still belongs to <paramref name="connection"/> (the connection ended).</summary>
    public void Release(ReadOnlySpan<byte> id, DtlsConnection connection)
    {
        if (id.Length == Length)
        {
            _connections.TryRemove(new KeyValuePair<UInt128, DtlsConnection>(Key(id), connection));
        }
    }

    private static UInt128 Key(ReadOnlySpan<byte> id)
    {
        Span<byte> padded = stackalloc byte[16];
        padded.Clear();
        id.CopyTo(padded);
        return System.Buffers.Binary.BinaryPrimitives.ReadUInt128LittleEndian(padded);
    }
}
