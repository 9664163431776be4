using Org.BouncyCastle.Tls;


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
    private readonly byte[] _answer = new byte[ClientHelloCookie.MaxLength];

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
    /// Checks the cookie in a ClientHello. Returns the verified ClientHello when its cookie is valid under the current or
    /// previous key; otherwise sends a HelloVerifyRequest with a cookie of the current key through
    /// <paramref name="sender"/> and returns null (a ClientHello BouncyCastle's verifier would not read gets neither).
    /// </summary>
    public VerifiedClientHello? Verify(ReadOnlySpan<byte> clientId, byte[] datagram, int length, DatagramSender sender, out bool helloVerifyRequestSent)
    {
        var keys = CurrentKeys();
        var previousKey = ReferenceEquals(keys.Previous, keys.Current) ? default : keys.Previous.Key.AsSpan();
        var outcome = ClientHelloCookie.TryAnswer(datagram.AsSpan(0, length), clientId, keys.Current.Key, previousKey, _scratch, _answer,
            out int answer);
        helloVerifyRequestSent = false;
        switch (outcome)
        {
            case ClientHelloCookieOutcome.Answered:
                // The current key's HelloVerifyRequest, so the client's next cookie lives as long as possible.
                sender.Send(_answer, 0, answer);
                helloVerifyRequestSent = true;
                return null;
            case ClientHelloCookieOutcome.Verified or ClientHelloCookieOutcome.VerifiedByPreviousKey:
                // The key matters to BouncyCastle's handshake only, whose request that key's verifier makes.
                var key = outcome == ClientHelloCookieOutcome.Verified ? keys.Current : keys.Previous;
                // Copied only now: what fails the check (every spoofed ClientHello) allocates nothing.
                return new VerifiedClientHello(key, clientId.ToArray(), datagram.AsSpan(0, length).ToArray());
            default:
                return null;
        }
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
}
