using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>The bounded pool of handshake threads: caps, queueing, every item run exactly once, stop.</summary>
public sealed class HandshakeWorkerPoolTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    [Fact]
    public void Reservations_stop_at_threads_plus_queue_and_come_back()
    {
        using var pool = new HandshakeWorkerPool(maxThreads: 2, queueLength: 3, "test handshake");
        for (int i = 0; i < 5; i++)
        {
            Assert.True(pool.TryReserve());
        }

        Assert.False(pool.TryReserve());
        pool.CancelReservation();
        Assert.True(pool.TryReserve());
        Assert.Equal(5, pool.Outstanding);
    }

    [Fact]
    public async Task Queued_work_all_runs_once_on_at_most_max_threads()
    {
        const int items = 40;
        using var pool = new HandshakeWorkerPool(maxThreads: 3, queueLength: items, "test handshake");
        using var gate = new ManualResetEventSlim();
        var ran = new int[items];
        int running = 0, maxRunning = 0;
        var allDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var threeRunning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int done = 0;

        for (int i = 0; i < items; i++)
        {
            int item = i;
            Assert.True(pool.TryReserve());
            pool.Run(() =>
            {
                int now = Interlocked.Increment(ref running);
                InterlockedMax(ref maxRunning, now);
                if (now == 3)
                {
                    threeRunning.TrySetResult();
                }

                gate.Wait(Wait);
                Interlocked.Decrement(ref running);
                Interlocked.Increment(ref ran[item]);
                if (Interlocked.Increment(ref done) == items)
                {
                    allDone.SetResult();
                }
            });
        }

        // The first three block on the gate; the others wait in the queue, not on extra threads.
        await threeRunning.Task.WaitAsync(Wait);

        Assert.Equal(3, pool.Threads);
        gate.Set();
        await allDone.Task.WaitAsync(Wait);

        Assert.All(ran, count => Assert.Equal(1, count));
        Assert.Equal(3, maxRunning);
        // A reservation is given back just after its work item returns.
        await Infrastructure.Wait.UntilAsync(() => pool.Outstanding == 0);

        // Idle threads are woken for new work instead of new threads being started.
        var again = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(pool.TryReserve());
        pool.Run(again.SetResult);
        await again.Task.WaitAsync(Wait);
        Assert.Equal(3, pool.Threads);
    }

    [Fact]
    public async Task Dispose_refuses_new_work_and_ends_idle_threads()
    {
        var pool = new HandshakeWorkerPool(maxThreads: 2, queueLength: 2, "test handshake");
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Assert.True(pool.TryReserve());
        pool.Run(ran.SetResult);
        await ran.Task.WaitAsync(Wait);
        Assert.Equal(1, pool.Threads);

        pool.Dispose();
        Assert.False(pool.TryReserve());
        await Infrastructure.Wait.UntilAsync(() => pool.Threads == 0);
        Assert.Equal(0, pool.Threads);
    }

    private static void InterlockedMax(ref int target, int value)
    {
        int current;
        while ((current = Volatile.Read(ref target)) < value && Interlocked.CompareExchange(ref target, value, current) != current)
        {
        }
    }
}
