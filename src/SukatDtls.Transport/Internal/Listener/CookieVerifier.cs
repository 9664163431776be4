using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The stateless HelloVerifyRequest cookie exchange (RFC 6347 §4.2.1) with a rotating HMAC key. BouncyCastle's
/// <see cref="DtlsVerifier"/> has one fixed key, so rotation replaces the verifier; a cookie made with the previous
/// key is still accepted for one more period, so a client answering a HelloVerifyRequest just before a rotation is
/// not turned away.
/// </summary>
/// <remarks>Called from the listener's receive loop only (one caller at a time); rotation may run on a timer thread.</remarks>
internal sealed class CookieVerifier : IDisposable
{
    private readonly TlsCrypto _crypto;
    private readonly ITimer _rotationTimer;
    private readonly CapturingSender _capture = new();
    private readonly CapturingSender _discard = new();
    private volatile Keys _keys;

    private readonly Action? _onRotated;

    public CookieVerifier(TlsCrypto crypto, TimeProvider timeProvider, TimeSpan rotationInterval, Action? onRotated = null)
    {
        _crypto = crypto;
        _onRotated = onRotated;
        var first = new DtlsVerifier(crypto);
        _keys = new Keys(first, first);
        _rotationTimer = timeProvider.CreateTimer(static state => ((CookieVerifier)state!).Rotate(), this, rotationInterval, rotationInterval);
    }

    /// <summary>
    /// Checks the cookie in a ClientHello. Returns the request to continue the handshake with when the cookie is valid
    /// under the current or previous key; otherwise sends a HelloVerifyRequest with a fresh cookie through
    /// <paramref name="sender"/> and returns null (a ClientHello BouncyCastle cannot parse gets neither).
    /// </summary>
    public DtlsRequest? Verify(byte[] clientId, byte[] datagram, int length, DatagramSender sender, out bool helloVerifyRequestSent)
    {
        var keys = _keys;
        _capture.Reset();
        var request = keys.Current.VerifyRequest(clientId, datagram, 0, length, _capture);
        if (request is null && !ReferenceEquals(keys.Previous, keys.Current))
        {
            request = keys.Previous.VerifyRequest(clientId, datagram, 0, length, _discard);
        }

        helloVerifyRequestSent = false;
        if (request is null && _capture.Length > 0)
        {
            // The current key's HelloVerifyRequest, so the client's next cookie lives as long as possible.
            sender.Send(_capture.Buffer, 0, _capture.Length);
            helloVerifyRequestSent = true;
        }

        return request;
    }

    private void Rotate()
    {
        var keys = _keys;
        _keys = new Keys(new DtlsVerifier(_crypto), keys.Current);
        _onRotated?.Invoke();
    }

    public void Dispose() => _rotationTimer.Dispose();

    private sealed record Keys(DtlsVerifier Current, DtlsVerifier Previous);

    /// <summary>Holds the HelloVerifyRequest that a verifier wanted to send, so that we decide whether to send it.</summary>
    private sealed class CapturingSender : DatagramSender
    {
        public byte[] Buffer { get; } = new byte[512];

        public int Length { get; private set; }

        public void Reset() => Length = 0;

        public int GetSendLimit() => Buffer.Length;

        public void Send(byte[] buf, int off, int len) => Send(buf.AsSpan(off, len));

        public void Send(ReadOnlySpan<byte> buffer)
        {
            if (buffer.Length <= Buffer.Length)
            {
                buffer.CopyTo(Buffer);
                Length = buffer.Length;
            }
        }
    }
}
