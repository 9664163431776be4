using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Client;

/// <summary>
/// The attempts of one connect, Happy Eyeballs style (RFC 8305 §5): the target's addresses in order; the next attempt
/// starts when the attempts in progress have heard nothing from their servers for <see cref="AttemptDelay"/> since the
/// last one sent its ClientHello, or at once when one fails (refused, say). The first to complete its handshake wins;
/// the others are abandoned and awaited (socket closed, handshake thread done, handshake place free) before the winner
/// is returned.
/// </summary>
/// <remarks>
/// <para>
/// An attempt whose server answered is given its time: no new attempt starts beside it on the timer, only when it fails.
/// A handshake mostly waits for the peer, but its first pass computes (and JIT compiles), which can take longer than
/// the delay; starting another handshake then would only cost both servers.
/// </para>
/// <para>
/// Every attempt ends by the handshake timeout counted from the first attempt (each gets what is left of it), so a
/// connect with any number of addresses takes at most <c>HandshakeTimeout</c> after its name is resolved. When every
/// attempt failed, the caller gets the failure of the attempt that got furthest — one that heard from its server, then
/// a timeout, then anything else — the first address's among equals; when every address refused, one "connection
/// refused" that names them all.
/// </para>
/// <para>The race is one asynchronous flow: nothing in it runs concurrently, so it needs no lock.</para>
/// </remarks>
internal sealed class ConnectRace
{
    /// <summary>RFC 8305's recommended Connection Attempt Delay: how long an attempt goes unanswered before the next starts.</summary>
    internal static readonly TimeSpan AttemptDelay = TimeSpan.FromMilliseconds(250);

    private readonly ConnectTarget _target;
    private readonly Func<IPEndPoint, TimeSpan, bool, ValueTask<ConnectAttempt?>> _start;
    private readonly TimeSpan _timeout;
    private readonly TimeProvider _timeProvider;
    private readonly ILogger _logger;
    private readonly List<ConnectAttempt> _running = [];
    private readonly List<Failure> _failures = [];
    private int _next;
    private bool _started;
    private long _firstStarted;

    /// <param name="target">The addresses, in order.</param>
    /// <param name="start">
    /// Starts the handshake with an address, given the time it may take; returns null when no handshake place is free,
    /// unless its third argument says the connect has no other attempt to wait for (then it throws).
    /// </param>
    /// <param name="timeout">The handshake timeout, for every attempt together.</param>
    /// <param name="timeProvider">The clock of the delays.</param>
    /// <param name="logger">The client's logger.</param>
    public ConnectRace(ConnectTarget target, Func<IPEndPoint, TimeSpan, bool, ValueTask<ConnectAttempt?>> start, TimeSpan timeout, TimeProvider timeProvider, ILogger logger)
    {
        _target = target;
        _start = start;
        _timeout = timeout;
        _timeProvider = timeProvider;
        _logger = logger;
    }

    /// <summary>Runs the attempts until one completes its handshake, all failed, or the connect is cancelled.</summary>
    /// <returns>The established connection of the winning attempt.</returns>
    /// <exception cref="OperationCanceledException"><paramref name="cancellationToken"/> was cancelled.</exception>
    public async Task<DtlsConnection> RunAsync(CancellationToken cancellationToken)
    {
        // Ends the delays (and the registration on the caller's token) with the race.
        using var race = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        var cancelled = Task.Delay(Timeout.Infinite, race.Token);
        Task? delay = null;
        ConnectAttempt? winner = null;
        string abandoned = "the connect was cancelled";
        try
        {
            bool startDue = true;
            while (true)
            {
                if (startDue)
                {
                    startDue = false;
                    if (await StartNextAsync().ConfigureAwait(false))
                    {
                        delay = _next < _target.EndPoints.Count ? AttemptDelayAsync(_running[^1], race.Token) : null;
                    }
                }

                if (_running.Count == 0)
                {
                    throw ChooseFailure();
                }

                var waits = new List<Task>(_running.Count + 2) { cancelled };
                if (delay is not null)
                {
                    waits.Add(delay);
                }

                waits.AddRange(_running.Select(attempt => attempt.Ended));
                var done = await Task.WhenAny(waits).ConfigureAwait(false);
                if (done == cancelled)
                {
                    // Only the caller's token ends it while the race runs (the race's own cancel comes in finally).
                    throw new OperationCanceledException(cancellationToken);
                }

                if (done == delay)
                {
                    delay = null;
                    startDue = true;
                    continue;
                }

                foreach (var attempt in _running.Where(attempt => attempt.Ended.IsCompleted).ToArray())
                {
                    _running.Remove(attempt);
                    if (await attempt.Ended.ConfigureAwait(false) is not { } failure)
                    {
                        winner = attempt;
                        abandoned = $"{attempt.Remote} completed its handshake first";
                        return attempt.Connection;
                    }

                    await RecordFailureAsync(attempt, failure).ConfigureAwait(false);

                    // A failed attempt is no reason to wait: the next address now.
                    startDue = true;
                }
            }
        }
        catch (Exception ex) when (winner is null && ex is not OperationCanceledException)
        {
            abandoned = "the connect failed";
            throw;
        }
        finally
        {
            await race.CancelAsync().ConfigureAwait(false);
            await Task.WhenAll(_running.Select(attempt => AbandonAsync(attempt, abandoned))).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Ends <see cref="AttemptDelay"/> after <paramref name="attempt"/> asked its server (or at once when it ended before):
    /// computing the ClientHello, and in a fresh process compiling the code for it, is no time the server had to answer.
    /// </summary>
    private async Task AttemptDelayAsync(ConnectAttempt attempt, CancellationToken cancellationToken)
    {
        await Task.WhenAny(attempt.Asked, attempt.Ended).WaitAsync(cancellationToken).ConfigureAwait(false);
        await Task.Delay(AttemptDelay, _timeProvider, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Starts the next address that can be started, unless an attempt in progress has heard from its server: an address
    /// whose socket cannot even be set up (no route, no IPv6) fails at once and the one after it is tried. True when an
    /// attempt started.
    /// </summary>
    private async ValueTask<bool> StartNextAsync()
    {
        if (_running.Any(attempt => attempt.HeardFromServer))
        {
            return false;
        }

        while (_next < _target.EndPoints.Count)
        {
            var remote = _target.EndPoints[_next];
            var left = _started ? _timeout - _timeProvider.GetElapsedTime(_firstStarted) : _timeout;
            if (left <= TimeSpan.Zero)
            {
                // The handshake timeout is over: the attempts in progress end with it.
                return false;
            }

            ConnectAttempt? attempt;
            try
            {
                attempt = await _start(remote, left, _running.Count == 0).ConfigureAwait(false);
            }
            catch (SocketException ex)
            {
                _next++;
                var failure = new SocketException(ex.ErrorCode, $"Cannot connect to {remote}: {ex.Message}");
                _failures.Add(new Failure(_next, remote, failure, Rank: 0));
                ClientLog.AttemptFailed(_logger, remote, _target.Name, failure.Message);
                continue;
            }

            if (attempt is null)
            {
                // No handshake place free: this address starts when one of ours ends.
                return false;
            }

            _next++;
            if (!_started)
            {
                _started = true;
                _firstStarted = _timeProvider.GetTimestamp();
            }

            _running.Add(attempt);
            ClientLog.AttemptStarted(_logger, remote, _target.Name, _next, _target.EndPoints.Count);
            return true;
        }

        return false;
    }

    private async Task RecordFailureAsync(ConnectAttempt attempt, Exception failure)
    {
        var error = attempt.Translate(failure, _timeout);
        int rank = attempt.HeardFromServer ? 3 : error is TimeoutException ? 2 : 1;
        _failures.Add(new Failure(OrderOf(attempt.Remote), attempt.Remote, error, rank));
        ClientLog.AttemptFailed(_logger, attempt.Remote, _target.Name, error.Message);
        await attempt.Connection.AbortAndDisposeAsync("The DTLS handshake failed.").ConfigureAwait(false);
    }

    /// <summary>The 1-based place of <paramref name="remote"/> in the target's order (its addresses are distinct).</summary>
    private int OrderOf(IPEndPoint remote)
    {
        for (int i = 0; i < _target.EndPoints.Count; i++)
        {
            if (_target.EndPoints[i].Equals(remote))
            {
                return i + 1;
            }
        }

        return int.MaxValue;
    }

    private async Task AbandonAsync(ConnectAttempt attempt, string reason)
    {
        ClientLog.AttemptAbandoned(_logger, attempt.Remote, _target.Name, reason);
        await attempt.AbandonAsync($"Connect attempt abandoned: {reason}.").ConfigureAwait(false);
    }

    /// <summary>What the caller gets when every attempt failed: the furthest one's failure, or one refusal for all.</summary>
    private Exception ChooseFailure()
    {
        if (_failures.Count > 1 && _failures.All(failure => failure.Error is SocketException { SocketErrorCode: SocketError.ConnectionRefused }))
        {
            return ConnectAttempt.Unreachable(SocketError.ConnectionRefused, _failures.OrderBy(failure => failure.Order).Select(failure => failure.Remote).ToArray());
        }

        return _failures.OrderByDescending(failure => failure.Rank).ThenBy(failure => failure.Order).FirstOrDefault()?.Error
            ?? new TimeoutException($"No DTLS handshake with {_target.Name} within {_timeout.TotalSeconds:0.###} s.");
    }

    /// <summary>One failed address: its place in the order, what the caller would see, and how far it got.</summary>
    private sealed record Failure(int Order, IPEndPoint Remote, Exception Error, int Rank);
}
