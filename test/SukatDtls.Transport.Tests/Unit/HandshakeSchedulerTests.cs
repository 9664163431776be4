using System.Net;
using Microsoft.Extensions.Time.Testing;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// Admission by capacity, and which handshake gives way when it is full: only one that has waited for its peer at
/// least the minimum, from the heaviest source network, never from a lighter network than the newcomer's.
/// </summary>
public sealed class HandshakeSchedulerTests
{
    private static readonly TimeSpan MinWait = TimeSpan.FromSeconds(1);
    private static readonly ulong NetworkA = SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1));
    private static readonly ulong NetworkB = SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("198.51.100.7"), 1));
    private static readonly ulong NetworkC = SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("203.0.113.1"), 1));

    private readonly FakeTimeProvider _time = new(DateTimeOffset.UtcNow);

    private HandshakeScheduler Scheduler(int capacity) => new(capacity, MinWait, "test handshake", _time, cpuPasses: 1);

    private static HandshakeSlot Admit(HandshakeScheduler scheduler, ulong network)
    {
        var slot = scheduler.TryAdmit(network, out var evicted);
        Assert.NotNull(slot);
        Assert.Null(evicted);
        return slot!;
    }

    [Fact]
    public void Source_prefixes_are_the_ipv4_24_and_the_ipv6_64()
    {
        Assert.Equal(SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1)), SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("192.0.2.200"), 9)));
        Assert.NotEqual(SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1)), SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("192.0.3.10"), 1)));
        Assert.Equal(SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1)), SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("::ffff:192.0.2.99"), 1)));
        Assert.Equal(SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("2001:db8:1:2::1"), 1)), SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("2001:db8:1:2:ffff::9"), 1)));
        Assert.NotEqual(SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("2001:db8:1:2::1"), 1)), SourcePrefix.Of(new IPEndPoint(IPAddress.Parse("2001:db8:1:3::1"), 1)));
        Assert.Equal("192.0.2.0/24", SourcePrefix.Describe(new IPEndPoint(IPAddress.Parse("192.0.2.10"), 1)));
        Assert.Equal("2001:db8:1:2::/64", SourcePrefix.Describe(new IPEndPoint(IPAddress.Parse("2001:db8:1:2::1"), 1)));
    }

    [Fact]
    public void Below_capacity_every_peer_is_admitted_and_a_finished_handshake_frees_its_place()
    {
        using var scheduler = Scheduler(capacity: 2);
        var first = Admit(scheduler, NetworkA);
        Admit(scheduler, NetworkA);
        Assert.Equal(2, scheduler.InProgress);

        // Full, and nobody waits for a peer: refused.
        Assert.Null(scheduler.TryAdmit(NetworkB, out var evicted));
        Assert.Null(evicted);

        first.Finish();
        first.Finish(); // twice is once
        Assert.Equal(1, scheduler.InProgress);
        Admit(scheduler, NetworkB);
    }

    [Fact]
    public void A_handshake_that_waited_less_than_the_minimum_does_not_give_way()
    {
        using var scheduler = Scheduler(capacity: 1);
        var waiting = Admit(scheduler, NetworkA);
        waiting.WaitForPeer();
        _time.Advance(MinWait - TimeSpan.FromMilliseconds(1));
        Assert.Null(scheduler.TryAdmit(NetworkB, out var evicted));
        Assert.Null(evicted);

        _time.Advance(TimeSpan.FromMilliseconds(1));
        var newcomer = scheduler.TryAdmit(NetworkA, out evicted);
        Assert.NotNull(newcomer);
        Assert.Same(waiting, evicted);
        Assert.True(waiting.IsEvicted);
        Assert.Equal(MinWait, waiting.EvictedAfter);
        Assert.Equal(1, scheduler.InProgress);

        // The evicted handshake's thread ends later: that frees nothing twice.
        waiting.Finish();
        Assert.Equal(1, scheduler.InProgress);
    }

    [Fact]
    public void A_handshake_computing_again_after_its_peer_answered_does_not_give_way()
    {
        using var scheduler = Scheduler(capacity: 1);
        var slot = Admit(scheduler, NetworkA);
        slot.EnterCpu(continuing: false);
        slot.WaitForPeer();
        _time.Advance(MinWait * 5);
        slot.PeerAnswered();
        Assert.Null(scheduler.TryAdmit(NetworkA, out var evicted));
        Assert.Null(evicted);
        slot.Finish();
    }

    [Fact]
    public void What_a_peer_sends_does_not_make_its_handshake_look_new_when_it_waits_again()
    {
        // Nothing before the client's Finished is authenticated: a handshake on a thread that is given a datagram and
        // waits again keeps its first wait's time and its place among its network's waiting handshakes.
        using var scheduler = Scheduler(capacity: 2);
        var older = Admit(scheduler, NetworkA);
        var newer = Admit(scheduler, NetworkA);
        older.EnterCpu(continuing: false);
        older.WaitForPeer();
        _time.Advance(MinWait);
        newer.EnterCpu(continuing: false);
        newer.WaitForPeer();
        _time.Advance(MinWait);

        // The older one's peer sends something (junk, or a flight): it computes, then waits again.
        older.PeerAnswered();
        older.WaitForPeer();

        Assert.NotNull(scheduler.TryAdmit(NetworkA, out var evicted));
        Assert.Same(older, evicted);
        Assert.Equal(MinWait * 2, older.EvictedAfter);
        newer.Finish();
    }

    [Fact]
    public void The_victim_is_the_oldest_waiting_handshake_of_the_heaviest_network()
    {
        using var scheduler = Scheduler(capacity: 5);
        var a1 = Admit(scheduler, NetworkA);
        var a2 = Admit(scheduler, NetworkA);
        var a3 = Admit(scheduler, NetworkA);
        var b1 = Admit(scheduler, NetworkB);
        var b2 = Admit(scheduler, NetworkB);
        b1.WaitForPeer(); // B's waits longest
        _time.Advance(TimeSpan.FromSeconds(1));
        a2.WaitForPeer();
        _time.Advance(TimeSpan.FromSeconds(1));
        a1.WaitForPeer();
        _time.Advance(TimeSpan.FromSeconds(1));

        // A has three in progress, B two: A gives way, its handshake that waits longest (a2), not B's older one.
        Assert.NotNull(scheduler.TryAdmit(NetworkC, out var evicted));
        Assert.Same(a2, evicted);

        // Now A and B have two each (a newcomer from C has one): the tie goes to the one that waited longest, b1.
        Assert.NotNull(scheduler.TryAdmit(NetworkC, out evicted));
        Assert.Same(b1, evicted);
        GC.KeepAlive(new[] { a3, b2 });
    }

    [Fact]
    public void A_newcomer_never_displaces_a_lighter_network_only_its_own()
    {
        using var scheduler = Scheduler(capacity: 4);
        var light = Admit(scheduler, NetworkB);
        var heavy = new[] { Admit(scheduler, NetworkA), Admit(scheduler, NetworkA), Admit(scheduler, NetworkA) };
        light.WaitForPeer();
        heavy[0].EnterCpu(continuing: false); // computing: cannot give way
        heavy[1].WaitForPeer();
        _time.Advance(MinWait);

        // Another from A: A counts four with it, B one; A's own waiting handshake gives way, not B's older one.
        Assert.NotNull(scheduler.TryAdmit(NetworkA, out var evicted));
        Assert.Same(heavy[1], evicted);

        // And when A has none left that may give way, the newcomer from A is refused rather than take B's place.
        Assert.Null(scheduler.TryAdmit(NetworkA, out evicted));
        Assert.Null(evicted);
        Assert.False(light.IsEvicted);
        heavy[0].Finish();
    }

    [Fact]
    public void A_network_over_its_fair_share_gives_way_at_once_to_a_lighter_one()
    {
        using var scheduler = Scheduler(capacity: 4);
        var flood = new[] { Admit(scheduler, NetworkA), Admit(scheduler, NetworkA), Admit(scheduler, NetworkA), Admit(scheduler, NetworkA) };
        flood[2].WaitForPeer();
        flood[3].WaitForPeer();

        // Just now: no minimum wait applies, A holds 4 of 4 where its fair share with B is 2.
        Assert.NotNull(scheduler.TryAdmit(NetworkB, out var evicted));
        Assert.Same(flood[2], evicted);
        Assert.NotNull(scheduler.TryAdmit(NetworkB, out evicted));
        Assert.Same(flood[3], evicted);

        // A is at its fair share now (2 of 4): a third from B must wait for the minimum like anyone.
        flood[0].WaitForPeer();
        Assert.Null(scheduler.TryAdmit(NetworkB, out evicted));
        _time.Advance(MinWait);
        Assert.Null(scheduler.TryAdmit(NetworkB, out evicted)); // B would have 3, A has 2: A is lighter
        Assert.NotNull(scheduler.TryAdmit(NetworkA, out evicted)); // but A's own newcomer may replace A's old one
        Assert.Same(flood[0], evicted);
    }

    [Fact]
    public void A_scheduler_that_never_evicts_refuses_when_full()
    {
        using var scheduler = new HandshakeScheduler(1, Timeout.InfiniteTimeSpan, "test handshake", _time);
        Admit(scheduler, 0).WaitForPeer();
        _time.Advance(TimeSpan.FromHours(1));
        Assert.Null(scheduler.TryAdmit(0, out var evicted));
        Assert.Null(evicted);
    }

    [Fact]
    public async Task Run_finishes_the_slot_when_the_handshake_returns_or_throws_and_Dispose_refuses_new_work()
    {
        var scheduler = Scheduler(capacity: 2);
        var ran = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slot = Admit(scheduler, NetworkA);
        scheduler.Run(slot, () => ran.SetResult());
        await ran.Task.WaitAsync(TimeSpan.FromSeconds(10));
        await Infrastructure.Wait.UntilAsync(() => scheduler.InProgress == 0);

        var failing = Admit(scheduler, NetworkA);
        scheduler.Run(failing, () => throw new InvalidOperationException("a handshake failed"));
        await Infrastructure.Wait.UntilAsync(() => scheduler.InProgress == 0);

        scheduler.Dispose();
        Assert.Null(scheduler.TryAdmit(NetworkA, out _));
        await Infrastructure.Wait.UntilAsync(() => scheduler.Threads == 0);
    }

    [Fact]
    public async Task Queued_first_flights_are_taken_in_turn_by_at_most_one_thread_per_cpu_pass()
    {
        using var scheduler = new HandshakeScheduler(16, MinWait, "test handshake", _time, cpuPasses: 2);
        using var release = new ManualResetEventSlim();
        var threads = new System.Collections.Concurrent.ConcurrentDictionary<int, bool>();
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int ran = 0;
        void FirstFlight()
        {
            threads[Environment.CurrentManagedThreadId] = true;
            firstStarted.TrySetResult();
            release.Wait(TimeSpan.FromSeconds(10));
            Interlocked.Increment(ref ran);
        }

        scheduler.QueueFirstFlight(Admit(scheduler, NetworkA), FirstFlight);
        await firstStarted.Task.WaitAsync(TimeSpan.FromSeconds(10));

        // The first thread computes; one more first flight waits for it, a second one more wakes the second thread,
        // and the rest wait for those two: no thread per handshake.
        scheduler.QueueFirstFlight(Admit(scheduler, NetworkA), FirstFlight);
        Assert.Equal(1, scheduler.FirstFlightThreads);
        var failing = Admit(scheduler, NetworkA);
        scheduler.QueueFirstFlight(failing, () => throw new InvalidOperationException("a first flight failed"));
        Assert.Equal(2, scheduler.FirstFlightThreads);
        for (int i = 0; i < 5; i++)
        {
            scheduler.QueueFirstFlight(Admit(scheduler, NetworkA), FirstFlight);
        }

        Assert.Equal(2, scheduler.FirstFlightThreads);
        release.Set();
        await Infrastructure.Wait.UntilAsync(() => Volatile.Read(ref ran) == 7 && scheduler.FirstFlightThreads == 0);

        // The one that threw gave its place back; the others keep theirs until their handshakes end.
        Assert.Equal(7, scheduler.InProgress);
        Assert.InRange(threads.Count, 1, 2);

        // Idle again: the next first flight wakes a thread again.
        var again = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        scheduler.QueueFirstFlight(Admit(scheduler, NetworkB), () => again.SetResult());
        var lastSlot = Admit(scheduler, NetworkC);
        await again.Task.WaitAsync(TimeSpan.FromSeconds(10));

        scheduler.Dispose();
        Assert.Throws<ObjectDisposedException>(() => scheduler.QueueFirstFlight(lastSlot, () => { }));
        Assert.Equal(8, scheduler.InProgress); // the refused one's place was given back
    }
}
