namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>Waiting for asynchronous state in tests: bounded, so a regression fails with a timeout instead of hanging.</summary>
internal static class Wait
{
    /// <summary>Polls <paramref name="condition"/> every millisecond until it holds; throws after <paramref name="timeoutMillis"/>.</summary>
    /// <exception cref="TimeoutException">The condition did not become true in time.</exception>
    public static async Task UntilAsync(Func<bool> condition, int timeoutMillis = 10_000)
    {
        var deadline = DateTime.UtcNow.AddMilliseconds(timeoutMillis);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException("The condition did not become true in time.");
            }

            await Task.Delay(1);
        }
    }
}
