namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>How an application store answered a handshake's question (<see cref="StoreLookup.Wait{T}"/>).</summary>
internal enum StoreAnswerKind
{
    /// <summary>It answered; the value is in <see cref="StoreAnswer{T}.Value"/>.</summary>
    Answered,

    /// <summary>It threw, or cancelled on its own; the exception is in <see cref="StoreAnswer{T}.Error"/>.</summary>
    Failed,

    /// <summary>It did not answer within what was left of the handshake timeout.</summary>
    TimedOut,

    /// <summary>The connection ended while it was asked (listener unbound, shutdown): nobody's fault.</summary>
    Abandoned,
}

/// <summary>A store's answer, or why there is none.</summary>
internal readonly record struct StoreAnswer<T>(StoreAnswerKind Kind, T? Value, Exception? Error);

/// <summary>
/// Asks an application store (<see cref="IDtlsPskKeyStore"/>, <see cref="IDtlsRawPublicKeyStore"/>) from inside a
/// BouncyCastle callback, which is synchronous.
/// </summary>
/// <remarks>
/// BouncyCastle calls on the handshake thread, a dedicated thread of the handshake pool: blocking it on the store's
/// <see cref="ValueTask{TResult}"/> blocks no thread-pool thread. The wait is bounded by what is left of the handshake
/// timeout and ends when the connection is abandoned; the store's token is cancelled in both cases. A store that
/// ignores its token is left running, unobserved.
/// </remarks>
internal static class StoreLookup
{
    /// <summary>Calls <paramref name="lookup"/> and waits for its answer, at most <paramref name="remaining"/>.</summary>
    public static StoreAnswer<T> Wait<T>(Func<CancellationToken, ValueTask<T>> lookup, TimeSpan remaining, CancellationToken connectionClosed)
    {
        if (remaining <= TimeSpan.Zero)
        {
            return new StoreAnswer<T>(StoreAnswerKind.TimedOut, default, null);
        }

        using var cancellation = CancellationTokenSource.CreateLinkedTokenSource(connectionClosed);
        cancellation.CancelAfter(remaining);
        Task<T> call;
        try
        {
            call = lookup(cancellation.Token).AsTask();
        }
        catch (Exception ex)
        {
            return new StoreAnswer<T>(StoreAnswerKind.Failed, default, ex);
        }

        bool finished;
        try
        {
            // Ends on the answer, or when the time is up or the connection ends, whether the store heeds its token or not.
            finished = call.Wait(remaining, cancellation.Token);
        }
        catch (OperationCanceledException)
        {
            finished = false;
        }
        catch (AggregateException)
        {
            finished = true; // faulted or cancelled: told apart below
        }

        if (!finished || (call.IsCanceled && cancellation.IsCancellationRequested))
        {
            // The wait may end a moment before CancelAfter fires, and disposing the source would then stop it: tell
            // the store now that nobody waits any longer.
            CancelQuietly(cancellation);
            return new StoreAnswer<T>(connectionClosed.IsCancellationRequested ? StoreAnswerKind.Abandoned : StoreAnswerKind.TimedOut, default, null);
        }

        return call.IsCompletedSuccessfully
            ? new StoreAnswer<T>(StoreAnswerKind.Answered, call.Result, null)
            : new StoreAnswer<T>(StoreAnswerKind.Failed, default,
                call.Exception?.InnerException ?? new OperationCanceledException("The store cancelled the look-up."));
    }

    private static void CancelQuietly(CancellationTokenSource cancellation)
    {
        try
        {
            cancellation.Cancel();
        }
        catch (AggregateException)
        {
            // A callback the store registered threw; the handshake fails anyway.
        }
    }
}
