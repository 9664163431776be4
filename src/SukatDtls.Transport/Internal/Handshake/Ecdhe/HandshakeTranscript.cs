using System.Buffers;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.Ecdhe;

/// <summary>
/// The handshake messages so far, as DTLS 1.2 hashes them (RFC 6347 §4.2.6): each with its 12-byte header as if it
/// had come in one fragment, from the ClientHello that carried the cookie on. Kept whole (a full handshake's messages
/// are one to a few kilobytes) in a pooled buffer, and hashed in one call whenever a hash is needed: no hash object
/// lives through the handshake, and nothing is allocated per message.
/// </summary>
internal sealed class HandshakeTranscript : IDisposable
{
    private byte[] _buffer = ArrayPool<byte>.Shared.Rent(4096);
    private int _length;

    /// <summary>Adds a whole message whose header is already the unfragmented one (the ClientHello as it came).</summary>
    public void AddMessage(ReadOnlySpan<byte> message)
    {
        message.CopyTo(Reserve(message.Length));
    }

    /// <summary>Adds a message from its type, sequence number and body.</summary>
    public void Add(DtlsHandshakeType type, int messageSequence, ReadOnlySpan<byte> body)
    {
        var destination = Reserve(DtlsHandshakeFragment.HeaderLength + body.Length);
        DtlsHandshakeFragment.WriteHeader(destination, type, body.Length, messageSequence, 0, body.Length);
        body.CopyTo(destination[DtlsHandshakeFragment.HeaderLength..]);
    }

    /// <summary>The hash of every message so far (SHA-384 for the suites whose PRF is SHA-384, else SHA-256); returns its length.</summary>
    public int Hash(bool sha384, Span<byte> destination) =>
        sha384 ? SHA384.HashData(_buffer.AsSpan(0, _length), destination) : SHA256.HashData(_buffer.AsSpan(0, _length), destination);

    private Span<byte> Reserve(int length)
    {
        if (_length + length > _buffer.Length)
        {
            byte[] larger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _length + length));
            _buffer.AsSpan(0, _length).CopyTo(larger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = larger;
        }

        var reserved = _buffer.AsSpan(_length, length);
        _length += length;
        return reserved;
    }

    public void Dispose()
    {
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
        _length = 0;
    }
}
