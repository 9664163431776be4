using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>The CPU gate: at most its passes held at once, handed on in order, continuing handshakes first.</summary>
public sealed class HandshakeCpuGateTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);

    [Fact]
    public void Passes_are_taken_without_waiting_while_free()
    {
        var gate = new HandshakeCpuGate(passes: 2);
        gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false);
        gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false);
        Assert.Equal(0, gate.Waiting);
        gate.Exit();
        gate.Exit();
    }

    [Fact]
    public async Task A_third_waits_until_a_pass_is_given_back_and_then_gets_it_directly()
    {
        var gate = new HandshakeCpuGate(passes: 2);
        gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false);
        gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false);

        var third = Task.Factory.StartNew(() => gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false), TaskCreationOptions.LongRunning);
        await Infrastructure.Wait.UntilAsync(() => gate.Waiting == 1);
        Assert.False(third.IsCompleted);

        gate.Exit();
        await third.WaitAsync(Wait);
        Assert.Equal(0, gate.Waiting);

        // The pass went to the waiter, not back to the pool: a fourth must wait.
        var fourth = Task.Factory.StartNew(() => gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false), TaskCreationOptions.LongRunning);
        await Infrastructure.Wait.UntilAsync(() => gate.Waiting == 1);
        gate.Exit();
        await fourth.WaitAsync(Wait);
    }

    [Fact]
    public async Task Continuing_handshakes_go_before_new_ones_each_in_arrival_order()
    {
        var gate = new HandshakeCpuGate(passes: 1);
        gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false);
        var order = new List<string>();
        var tasks = new List<Task>();
        foreach (var (name, continuing) in new[] { ("new 1", false), ("new 2", false), ("continuing 1", true), ("continuing 2", true) })
        {
            tasks.Add(Task.Factory.StartNew(() =>
            {
                gate.Enter(new HandshakeCpuGate.Waiter(), continuing);
                lock (order)
                {
                    order.Add(name);
                }

                gate.Exit();
            }, TaskCreationOptions.LongRunning));
            int expected = tasks.Count;
            await Infrastructure.Wait.UntilAsync(() => gate.Waiting == expected);
        }

        gate.Exit();
        await Task.WhenAll(tasks).WaitAsync(Wait);
        Assert.Equal(["continuing 1", "continuing 2", "new 1", "new 2"], order);
    }

    [Fact]
    public async Task Never_more_than_the_passes_compute_at_once()
    {
        var gate = new HandshakeCpuGate(passes: 3);

        // All three passes can be held at once (each Enter returns at once while a pass is free), and a fourth waits.
        await Task.Run(() =>
        {
            for (int i = 0; i < 3; i++)
            {
                gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false);
            }
        }).WaitAsync(Wait);
        var fourth = Task.Factory.StartNew(() => gate.Enter(new HandshakeCpuGate.Waiter(), continuing: false), TaskCreationOptions.LongRunning);
        await Infrastructure.Wait.UntilAsync(() => gate.Waiting == 1);
        Assert.False(fourth.IsCompleted);
        gate.Exit();
        await fourth.WaitAsync(Wait);
        for (int i = 0; i < 3; i++)
        {
            gate.Exit();
        }

        int inside = 0, most = 0;
        var tasks = Enumerable.Range(0, 24).Select(_ => Task.Factory.StartNew(() =>
        {
            var waiter = new HandshakeCpuGate.Waiter();
            for (int i = 0; i < 10; i++)
            {
                gate.Enter(waiter, continuing: i % 2 == 0);
                int now = Interlocked.Increment(ref inside);
                int seen;
                while ((seen = Volatile.Read(ref most)) < now && Interlocked.CompareExchange(ref most, now, seen) != seen)
                {
                }

                // Holding the pass while asleep: without the gate, many would be inside at once.
                Thread.Sleep(1);
                Interlocked.Decrement(ref inside);
                gate.Exit();
            }
        }, TaskCreationOptions.LongRunning)).ToArray();

        // At most the passes; how many overlapped at once is the scheduler's (a loaded CI machine saw 2), so only the
        // bound is asserted here and that all three can be held is shown above.
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.InRange(most, 1, 3);
        Assert.Equal(0, gate.Waiting);
    }
}
