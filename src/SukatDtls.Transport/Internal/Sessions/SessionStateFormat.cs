using System.Buffers.Binary;
using System.Security.Cryptography;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// A resumable session as bytes, for a store outside the process: everything BouncyCastle needs to resume it by
/// session ID on any node (<see cref="SessionParameters"/>), in a compact, versioned binary form of our own.
/// </summary>
/// <remarks>
/// <para>Version 1, big-endian:</para>
/// <code>
/// u8  format (1)           i64 created (Unix ms)     u16 cipher suite     u16 protocol version
/// u8  flags: 1 extended master secret, 2 PSK identity, 4 peer certificate, 8 server extensions
/// u8  master secret length, master secret
/// [u16 length, PSK identity]                                      when flag 2
/// [u8 certificate type, u8 count, (u24 length, encoding) × count] when flag 4 (the peer's chain, leaf first)
/// [u8 count, (u16 type, u16 length, data) × count]                when flag 8 (the server's extensions)
/// </code>
/// <para>
/// Left out: our own certificate (an abbreviated handshake sends none, and the server reports nothing from it; a node
/// that reloaded its certificate would report a stale one) and SRP identities (no SRP suite is offered). The
/// extensions are those the server sent (encrypt_then_mac, extended_master_secret, max_fragment_length, …): BouncyCastle
/// answers a resumption with them; all but connection_id, which a resumption negotiates afresh. The plaintext holds the master secret: callers encrypt it
/// (<see cref="SessionProtector"/>) and zero it.
/// </para>
/// </remarks>
internal static class SessionStateFormat
{
    public const byte Version1 = 1;

    private const byte ExtendedMasterSecret = 1;
    private const byte HasPskIdentity = 2;
    private const byte HasPeerCertificate = 4;
    private const byte HasServerExtensions = 8;

    /// <summary>
    /// The bytes of a session's master secret, or null when it has none left (the session was invalidated, which
    /// destroys it). Extract destroys the secret it is called on: the bytes come from a copy, never from the session's
    /// own secret, which BouncyCastle, a memory cache and later resumptions still use. The caller zeroes them.
    /// </summary>
    public static byte[]? CopyMasterSecret(SessionParameters parameters, TlsCrypto crypto)
    {
        if (parameters.MasterSecret is not { } secret || !secret.IsAlive())
        {
            return null;
        }

        try
        {
            return crypto.AdoptSecret(secret).Extract();
        }
        catch (InvalidOperationException)
        {
            return null; // destroyed meanwhile (the session was invalidated)
        }
    }

    /// <summary>The session as bytes, or null when it cannot be kept outside the process (no secret left, SRP).</summary>
    public static byte[]? Write(DtlsSessionState state, TlsCrypto crypto)
    {
        var parameters = state.Session.ExportSessionParameters();
        if (parameters is null || parameters.SrpIdentity is not null || parameters.NegotiatedVersion is null
            || CopyMasterSecret(parameters, crypto) is not { } masterSecret)
        {
            return null;
        }

        try
        {
            var writer = new Writer(256);
            writer.U8(Version1);
            writer.I64(state.Created.ToUnixTimeMilliseconds());
            writer.U16(parameters.CipherSuite);
            writer.U16(parameters.NegotiatedVersion.FullVersion);
            var peer = parameters.PeerCertificate;
            var extensions = parameters.ReadServerExtensions();

            // RFC 9146 §3: a resumed session negotiates its Connection ID afresh (DtlsServerPeer replaces the stored one),
            // so the old ID is not kept.
            extensions?.Remove(ExtensionType.connection_id);
            byte flags = (byte)((parameters.IsExtendedMasterSecret ? ExtendedMasterSecret : 0)
                | (parameters.PskIdentity is not null ? HasPskIdentity : 0)
                | (peer is not null ? HasPeerCertificate : 0)
                | (extensions is { Count: > 0 } ? HasServerExtensions : 0));
            writer.U8(flags);
            writer.U8(checked((byte)masterSecret.Length));
            writer.Bytes(masterSecret);
            if (parameters.PskIdentity is { } identity)
            {
                writer.U16(checked((ushort)identity.Length));
                writer.Bytes(identity);
            }

            if (peer is not null)
            {
                writer.U8((byte)peer.CertificateType);
                writer.U8(checked((byte)peer.Length));
                for (int i = 0; i < peer.Length; i++)
                {
                    byte[] encoding = peer.GetCertificateAt(i).GetEncoded();
                    writer.U24(encoding.Length);
                    writer.Bytes(encoding);
                }
            }

            if (extensions is { Count: > 0 })
            {
                writer.U8(checked((byte)extensions.Count));
                foreach (var (type, data) in extensions)
                {
                    writer.U16(type);
                    writer.U16(checked((ushort)data.Length));
                    writer.Bytes(data);
                }
            }

            return writer.ToArray();
        }
        finally
        {
            CryptographicOperations.ZeroMemory(masterSecret);
        }
    }

    /// <summary>
    /// The session that <paramref name="data"/> holds, resumable under <paramref name="sessionId"/>; null when the bytes
    /// are not a session of a format we know (a newer node's, or damaged).
    /// </summary>
    public static DtlsSessionState? Read(ReadOnlySpan<byte> data, byte[] sessionId, TlsCrypto crypto)
    {
        var reader = new Reader(data);
        if (!reader.U8(out byte format) || format != Version1
            || !reader.I64(out long created) || !reader.U16(out int cipherSuite) || !reader.U16(out int version)
            || !reader.U8(out byte flags) || !reader.U8(out byte secretLength) || !reader.Bytes(secretLength, out var secret)
            || secretLength == 0)
        {
            return null;
        }

        var builder = new SessionParameters.Builder()
            .SetCipherSuite(cipherSuite)
            .SetNegotiatedVersion(ProtocolVersion.Get(version >> 8, version & 0xFF))
            .SetExtendedMasterSecret((flags & ExtendedMasterSecret) != 0);
        if ((flags & HasPskIdentity) != 0)
        {
            if (!reader.U16(out int identityLength) || !reader.Bytes(identityLength, out var identity))
            {
                return null;
            }

            builder.SetPskIdentity(identity.ToArray());
        }

        if ((flags & HasPeerCertificate) != 0)
        {
            if (!ReadCertificate(ref reader, crypto, out var peer))
            {
                return null;
            }

            builder.SetPeerCertificate(peer);
        }

        if ((flags & HasServerExtensions) != 0)
        {
            if (!reader.U8(out byte count))
            {
                return null;
            }

            var extensions = new Dictionary<int, byte[]>(count);
            for (int i = 0; i < count; i++)
            {
                if (!reader.U16(out int type) || !reader.U16(out int length) || !reader.Bytes(length, out var extension)
                    || !extensions.TryAdd(type, extension.ToArray()))
                {
                    return null;
                }
            }

            builder.SetServerExtensions(extensions);
        }

        if (!reader.AtEnd || (flags & ~(ExtendedMasterSecret | HasPskIdentity | HasPeerCertificate | HasServerExtensions)) != 0)
        {
            return null;
        }

        // CreateSecret keeps a copy of its own; ours is zeroed.
        byte[] secretBytes = secret.ToArray();
        TlsSecret masterSecret;
        try
        {
            masterSecret = crypto.CreateSecret(secretBytes);
        }
        finally
        {
            CryptographicOperations.ZeroMemory(secretBytes);
        }

        var session = TlsUtilities.ImportSession(sessionId, builder.SetMasterSecret(masterSecret).Build());
        return new DtlsSessionState(session, DateTimeOffset.FromUnixTimeMilliseconds(created));
    }

    private static bool ReadCertificate(ref Reader reader, TlsCrypto crypto, out Certificate certificate)
    {
        certificate = null!;
        if (!reader.U8(out byte type) || !reader.U8(out byte count))
        {
            return false;
        }

        var entries = new CertificateEntry[count];
        for (int i = 0; i < count; i++)
        {
            if (!reader.U24(out int length) || !reader.Bytes(length, out var encoding))
            {
                return false;
            }

            try
            {
                entries[i] = new CertificateEntry(crypto.CreateCertificate(type, encoding.ToArray()), null);
            }
            catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException)
            {
                return false;
            }
        }

        certificate = new Certificate(type, null, entries);
        return true;
    }

    private sealed class Writer(int capacity)
    {
        private byte[] _buffer = new byte[capacity];
        private int _length;

        public void U8(byte value) => Span(1)[0] = value;

        public void U16(int value) => BinaryPrimitives.WriteUInt16BigEndian(Span(2), checked((ushort)value));

        public void U24(int value)
        {
            var span = Span(3);
            span[0] = checked((byte)(value >> 16));
            span[1] = (byte)(value >> 8);
            span[2] = (byte)value;
        }

        public void I64(long value) => BinaryPrimitives.WriteInt64BigEndian(Span(8), value);

        public void Bytes(ReadOnlySpan<byte> value) => value.CopyTo(Span(value.Length));

        public byte[] ToArray()
        {
            byte[] result = _buffer.AsSpan(0, _length).ToArray();
            CryptographicOperations.ZeroMemory(_buffer); // it held the master secret
            return result;
        }

        private Span<byte> Span(int length)
        {
            if (_length + length > _buffer.Length)
            {
                byte[] larger = new byte[Math.Max(_buffer.Length * 2, _length + length)];
                _buffer.AsSpan(0, _length).CopyTo(larger);
                CryptographicOperations.ZeroMemory(_buffer);
                _buffer = larger;
            }

            var span = _buffer.AsSpan(_length, length);
            _length += length;
            return span;
        }
    }

    private ref struct Reader(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;

        public readonly bool AtEnd => _rest.IsEmpty;

        public bool U8(out byte value)
        {
            value = 0;
            if (_rest.Length < 1)
            {
                return false;
            }

            value = _rest[0];
            _rest = _rest[1..];
            return true;
        }

        public bool U16(out int value)
        {
            value = 0;
            if (_rest.Length < 2)
            {
                return false;
            }

            value = BinaryPrimitives.ReadUInt16BigEndian(_rest);
            _rest = _rest[2..];
            return true;
        }

        public bool U24(out int value)
        {
            value = 0;
            if (_rest.Length < 3)
            {
                return false;
            }

            value = (_rest[0] << 16) | (_rest[1] << 8) | _rest[2];
            _rest = _rest[3..];
            return true;
        }

        public bool I64(out long value)
        {
            value = 0;
            if (_rest.Length < 8)
            {
                return false;
            }

            value = BinaryPrimitives.ReadInt64BigEndian(_rest);
            _rest = _rest[8..];
            return true;
        }

        public bool Bytes(int length, out ReadOnlySpan<byte> value)
        {
            value = default;
            if (_rest.Length < length)
            {
                return false;
            }

            value = _rest[..length];
            _rest = _rest[length..];
            return true;
        }
    }
}
