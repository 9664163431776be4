using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>The handshake threads: one per running handshake, reused when parked, ended when idle or stopped.</summary>
public sealed class HandshakeThreadsTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Each_running_handshake_has_a_thread_and_parked_threads_are_reused()
    {
        using var threads = new HandshakeThreads("test handshake");
        using var release = new ManualResetEventSlim();
        var running = new CountdownEvent(5);
        var names = new System.Collections.Concurrent.ConcurrentBag<int>();
        for (int i = 0; i < 5; i++)
        {
            threads.Run(() =>
            {
                names.Add(Environment.CurrentManagedThreadId);
                running.Signal();
                release.Wait(Wait);
            });
        }

        Assert.True(running.Wait(Wait), "five handshakes did not run at once");
        Assert.Equal(5, names.Distinct().Count());
        Assert.Equal(5, threads.Count);
        release.Set();

        // Parked threads take the next handshakes: no new thread.
        await Infrastructure.Wait.UntilAsync(() => threads.Parked == 5);
        var again = new CountdownEvent(3);
        var reused = new System.Collections.Concurrent.ConcurrentBag<int>();
        for (int i = 0; i < 3; i++)
        {
            // One at a time, so a parked thread is free each time.
            var done = new ManualResetEventSlim();
            threads.Run(() =>
            {
                reused.Add(Environment.CurrentManagedThreadId);
                again.Signal();
                done.Set();
            });
            Assert.True(done.Wait(Wait));
            await Infrastructure.Wait.UntilAsync(() => threads.Parked == 5);
        }

        Assert.True(again.Wait(Wait));
        Assert.Subset(names.ToHashSet(), reused.ToHashSet());
        Assert.Equal(5, threads.Count);
    }

    [Fact]
    public async Task After_a_burst_only_the_allowed_number_of_threads_stay_parked_the_others_end_at_once()
    {
        // Twelve handshakes at once need twelve threads; once they are done, three may wait for the next ones.
        using var threads = new HandshakeThreads("test handshake", maxParked: 3);
        using var release = new ManualResetEventSlim();
        var running = new CountdownEvent(12);
        for (int i = 0; i < 12; i++)
        {
            threads.Run(() =>
            {
                running.Signal();
                release.Wait(Wait);
            });
        }

        Assert.True(running.Wait(Wait), "twelve handshakes did not run at once");
        Assert.Equal(12, threads.Count);
        release.Set();

        // Not after the 30 s idle lifetime: as each handshake ends.
        await Infrastructure.Wait.UntilAsync(() => threads.Count == 3, 5_000);
        Assert.Equal(3, threads.Parked);
    }

    [Fact]
    public async Task A_thread_idle_for_its_lifetime_ends_and_a_throwing_handshake_does_not_end_one()
    {
        using var threads = new HandshakeThreads("test handshake", idleLifetime: TimeSpan.FromMilliseconds(200));
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        threads.Run(() => throw new InvalidOperationException("a failing handshake"));
        threads.Run(() => ran.SetResult());
        await ran.Task.WaitAsync(Wait);
        Assert.InRange(threads.Count, 1, 2);
        await Infrastructure.Wait.UntilAsync(() => threads.Count == 0);
    }

    [Fact]
    public async Task Dispose_ends_parked_threads_and_refuses_new_work()
    {
        var threads = new HandshakeThreads("test handshake");
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        threads.Run(() => ran.SetResult());
        await ran.Task.WaitAsync(Wait);
        threads.Dispose();
        await Infrastructure.Wait.UntilAsync(() => threads.Count == 0);
        Assert.Throws<ObjectDisposedException>(() => threads.Run(() => { }));
    }
}
