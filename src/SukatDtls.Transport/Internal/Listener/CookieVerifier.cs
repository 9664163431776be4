using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The stateless HelloVerifyRequest cookie exchange (RFC 6347 §4.2.1) with a rotating HMAC key. BouncyCastle's
/// <see cref="DtlsVerifier"/> has one fixed key, so rotation replaces the verifier; a cookie made with the previous
/// key is still accepted for one more period, so a client answering a HelloVerifyRequest just before a rotation is
/// not turned away.
/// </summary>
/// <remarks>
/// Two key schedules: random keys of this listener's own, replaced by a timer; or, with a shared secret
/// (<see cref="DtlsTransportOptions.CookieSecret"/>), the key of each period derived from the secret and the period's
/// number (<see cref="SharedCookieKeys"/>), so that every node with the secret makes and accepts the same cookies and
/// rotates at the same moment. Called from the listener's receive loop only (one caller at a time); the random
/// schedule's rotation runs on a timer thread.
/// </remarks>
internal sealed class CookieVerifier : IDisposable
{
    private readonly TimeProvider _timeProvider;
    private readonly ITimer? _rotationTimer;
    private readonly SharedCookieKeys? _shared;
    private readonly CapturingSender _capture = new();
    private readonly CapturingSender _discard = new();

    // The MAC input of a first ClientHello: the client's address and the body (the gate reassembles at most 8 KiB).
    private readonly byte[] _scratch = new byte[DtlsConnection.MaxRecordDatagramSize + 64];
    private volatile Keys _keys;

    private readonly Action? _onRotated;

    /// <param name="timeProvider">The clock of rotation.</param>
    /// <param name="rotationInterval">How long one key is the current one.</param>
    /// <param name="onRotated">Called after each rotation (for the log).</param>
    /// <param name="sharedSecret">A secret every node shares, or null for random keys of this listener's own.</param>
    public CookieVerifier(TimeProvider timeProvider, TimeSpan rotationInterval, Action? onRotated = null, byte[]? sharedSecret = null)
    {
        _timeProvider = timeProvider;
        _onRotated = onRotated;
        if (sharedSecret is not null)
        {
            // No timer: the period is read from the clock with each ClientHello, so every node changes key at the same
            // moment rather than at its own timer's.
            _shared = new SharedCookieKeys(sharedSecret, rotationInterval);
            long period = _shared.PeriodAt(timeProvider.GetUtcNow());
            _keys = new Keys(_shared.CreateVerifier(period), _shared.CreateVerifier(period - 1), period);
        }
        else
        {
            var first = CookieKey.Random();
            _keys = new Keys(first, first, 0);
            _rotationTimer = timeProvider.CreateTimer(static state => ((CookieVerifier)state!).Rotate(), this, rotationInterval, rotationInterval);
        }
    }

    /// <summary>
    /// Checks the cookie in a ClientHello. Returns the request to continue the handshake with when the cookie is valid
    /// under the current or previous key; otherwise sends a HelloVerifyRequest with a fresh cookie through
    /// <paramref name="sender"/> and returns null (a ClientHello BouncyCastle cannot parse gets neither).
    /// </summary>
    public DtlsRequest? Verify(byte[] clientId, byte[] datagram, int length, DatagramSender sender, out bool helloVerifyRequestSent)
    {
        var keys = CurrentKeys();

        // A first ClientHello (no cookie) is answered here, as BouncyCastle's verifier would answer it but without its
        // parse; only a ClientHello that returns a cookie goes to the verifier, which makes the handshake's request.
        switch (FirstClientHelloAnswer.TryAnswer(datagram.AsSpan(0, length), clientId, keys.Current.Key, _scratch, _capture.Buffer, out int answer))
        {
            case FirstClientHelloOutcome.Answered:
                sender.Send(_capture.Buffer, 0, answer);
                helloVerifyRequestSent = true;
                return null;
            case FirstClientHelloOutcome.Malformed:
                helloVerifyRequestSent = false;
                return null;
        }

        _capture.Reset();
        var request = keys.Current.Verifier.VerifyRequest(clientId, datagram, 0, length, _capture);
        if (request is null && !ReferenceEquals(keys.Previous, keys.Current))
        {
            request = keys.Previous.Verifier.VerifyRequest(clientId, datagram, 0, length, _discard);
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

    private Keys CurrentKeys()
    {
        var keys = _keys;
        if (_shared is null)
        {
            return keys;
        }

        long period = _shared.PeriodAt(_timeProvider.GetUtcNow());
        if (period == keys.Period)
        {
            return keys;
        }

        // A new period (or, after a long quiet spell, several): its key, and the one before it.
        var previous = period == keys.Period + 1 ? keys.Current : _shared.CreateVerifier(period - 1);
        keys = new Keys(_shared.CreateVerifier(period), previous, period);
        _keys = keys;
        _onRotated?.Invoke();
        return keys;
    }

    private void Rotate()
    {
        var keys = _keys;
        _keys = new Keys(CookieKey.Random(), keys.Current, 0);
        _onRotated?.Invoke();
    }

    public void Dispose() => _rotationTimer?.Dispose();

    /// <param name="Current">The key cookies are made with.</param>
    /// <param name="Previous">The key before it, still accepted.</param>
    /// <param name="Period">The period of <paramref name="Current"/> (shared keys only).</param>
    private sealed record Keys(CookieKey Current, CookieKey Previous, long Period);

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
