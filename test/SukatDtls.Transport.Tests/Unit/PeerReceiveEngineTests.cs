using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The peer sockets' own receive loops (<see cref="PeerReceiveEngine"/>), on real loopback sockets without DTLS: every
/// datagram reaches its socket's receiver on a loop thread with its source; pausing, resuming and stopping; datagrams
/// longer than a slot; ICMP reports; a receiver that throws does not take the loop with it.
/// </summary>
public sealed class PeerReceiveEngineTests : IDisposable
{
    private static readonly TimeSpan s_timeout = TimeSpan.FromSeconds(10);

    private readonly List<Socket> _sockets = [];

    public PeerReceiveEngineTests()
    {
        // The suite runs on Linux (x64 or Arm64), where the loops run.
        Assert.NotNull(PeerReceiveEngine.Shared);
    }

    public void Dispose()
    {
        foreach (var socket in _sockets)
        {
            socket.Dispose();
        }
    }

    [Theory]
    [InlineData(null, 2, 1)]
    [InlineData(null, 1, 1)]
    [InlineData(null, 8, 4)]
    [InlineData(null, 64, 16)]
    [InlineData("3", 2, 3)]
    [InlineData("64", 2, 64)]
    [InlineData("0", 8, 4)]
    [InlineData("65", 8, 4)]
    [InlineData("-1", 8, 4)]
    [InlineData("two", 8, 4)]
    public void The_loop_count_is_the_configured_one_when_valid_else_one_per_two_cores(string? configured, int processors, int expected) =>
        Assert.Equal(expected, PeerReceiveEngine.LoopCount(configured, processors));

    [Fact]
    public async Task Every_datagram_reaches_the_receiver_on_a_loop_thread_in_order_with_its_source()
    {
        var (local, peer) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);

        // More than one recvmmsg takes (8) and than one pass reads, sent before the loop can look.
        for (int i = 0; i < 50; i++)
        {
            peer.Send([(byte)i, 0xAA]);
        }

        for (int i = 0; i < 50; i++)
        {
            var datagram = await receiver.NextAsync();
            Assert.Equal([(byte)i, 0xAA], datagram.Bytes);
            Assert.True(datagram.FromPeer, "the source address is the peer's");
            Assert.False(datagram.Truncated);
            Assert.StartsWith("DTLS receive", datagram.Thread, StringComparison.Ordinal);
        }

        registration.Stop();
        await registration.Ended.WaitAsync(s_timeout);
    }

    [Fact]
    public async Task Each_datagram_says_whether_it_came_from_the_peer()
    {
        // A socket not yet connected (as a peer socket between bind() and connect()) takes datagrams from anyone.
        var local = Track(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        local.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var (peer, other) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);

        peer.SendTo([1], local.LocalEndPoint!);
        other.SendTo([2], local.LocalEndPoint!);
        peer.SendTo([3], local.LocalEndPoint!);

        bool[] fromPeer = new bool[3];
        for (int i = 0; i < 3; i++)
        {
            var datagram = await receiver.NextAsync();
            fromPeer[datagram.Bytes[0] - 1] = datagram.FromPeer;
        }

        Assert.Equal([true, false, true], fromPeer);
        registration.Stop();
    }

    [Fact]
    public async Task A_paused_socket_is_not_read_until_it_is_resumed()
    {
        var (local, peer) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize()) { PauseOnNextCall = true };
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);

        peer.Send([1]);
        await receiver.Paused.Task.WaitAsync(s_timeout);

        // The datagram waits on the socket; while paused, the loop serves others and leaves it there.
        peer.Send([2]);
        await ProveLoopMovedOnAsync(registration);
        Assert.Equal(1, receiver.Calls);
        Assert.True(local.Available > 0, "the datagrams wait on the socket");

        registration.Resume();
        Assert.Equal([1], (await receiver.NextAsync()).Bytes);
        Assert.Equal([2], (await receiver.NextAsync()).Bytes);
        registration.Stop();
    }

    [Fact]
    public async Task A_stopped_socket_is_never_read_again_and_Ended_completes()
    {
        var (local, peer) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);
        peer.Send([1]);
        await receiver.NextAsync();

        registration.Stop();
        registration.Stop();
        await registration.Ended.WaitAsync(s_timeout);
        Assert.True(registration.IsStopped);

        peer.Send([2]);
        await ProveLoopMovedOnAsync(registration);
        Assert.Equal(1, receiver.Calls);
        Assert.Equal(1, CountWaiting(local));
    }

    [Fact]
    public async Task Stopping_the_registration_of_a_closed_socket_throws_nothing()
    {
        // How a connection ends: its socket is closed first, then its registration stops. That must not cost an
        // exception per connection (a caught ObjectDisposedException from epoll_ctl on the closed handle was one).
        var (local, peer) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);
        peer.Send([1]);
        await receiver.NextAsync();

        int thread = Environment.CurrentManagedThreadId;
        var thrown = new List<Exception>();
        void OnFirstChance(object? sender, System.Runtime.ExceptionServices.FirstChanceExceptionEventArgs e)
        {
            if (Environment.CurrentManagedThreadId == thread)
            {
                lock (thrown)
                {
                    thrown.Add(e.Exception);
                }
            }
        }

        local.Dispose();
        AppDomain.CurrentDomain.FirstChanceException += OnFirstChance;
        try
        {
            registration.Stop();
        }
        finally
        {
            AppDomain.CurrentDomain.FirstChanceException -= OnFirstChance;
        }

        Assert.Empty(thrown);
        await registration.Ended.WaitAsync(s_timeout);

        // The loop goes on serving other sockets.
        var (other, otherPeer) = ConnectedPair();
        var otherReceiver = new RecordingReceiver(otherPeer.LocalEndPoint!.Serialize());
        var otherRegistration = PeerReceiveEngine.Shared!.Register(other, otherReceiver);
        otherPeer.Send([2]);
        Assert.Equal([2], (await otherReceiver.NextAsync()).Bytes);
        otherRegistration.Stop();
    }

    [Fact]
    public async Task A_socket_closed_and_a_new_one_given_its_descriptor_number_are_told_apart()
    {
        // Closing a socket takes it out of epoll; the next socket often gets its number. Its events must reach its own
        // receiver only, and the old registration's stop must not touch the new one.
        var (first, firstPeer) = ConnectedPair();
        var old = new RecordingReceiver(firstPeer.LocalEndPoint!.Serialize());
        var oldRegistration = PeerReceiveEngine.Shared!.Register(first, old);
        first.Dispose();

        var (second, secondPeer) = ConnectedPair();
        var current = new RecordingReceiver(secondPeer.LocalEndPoint!.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(second, current);
        oldRegistration.Stop();

        secondPeer.Send([7]);
        Assert.Equal([7], (await current.NextAsync()).Bytes);
        Assert.Equal(0, old.Calls);
        registration.Stop();
    }

    [Fact]
    public async Task An_event_fetched_for_a_socket_stopped_meanwhile_never_reaches_the_socket_that_took_its_slot()
    {
        // The loop is held (a receiver waits in its call) while two sockets, A then B, become readable: its next
        // epoll_wait fetches both events. A's receiver stops B and registers C, which takes B's slot; the event fetched
        // for B must not become a call for C.
        var (holdLocal, holdPeer) = ConnectedPair();
        using var release = new ManualResetEventSlim();
        var holder = new RecordingReceiver(holdPeer.LocalEndPoint!.Serialize()) { HoldOnNextCall = release };
        var hold = PeerReceiveEngine.Shared!.Register(holdLocal, holder);
        var loop = hold.Loop;
        var (aLocal, aPeer) = ConnectedPair();
        var (bLocal, bPeer) = ConnectedPair();
        var (cLocal, cPeer) = ConnectedPair();
        var b = loop.Add(bLocal, new RecordingReceiver(bPeer.LocalEndPoint!.Serialize()));
        var c = new RecordingReceiver(cPeer.LocalEndPoint!.Serialize());
        PeerReceiveRegistration? cRegistration = null;
        var a = new RecordingReceiver(aPeer.LocalEndPoint!.Serialize())
        {
            OnCall = () =>
            {
                b.Stop();
                cRegistration = loop.Add(cLocal, c);
            },
        };
        var aRegistration = loop.Add(aLocal, a);

        holdPeer.Send([0]);
        await holder.Held.Task.WaitAsync(s_timeout);
        aPeer.Send([1]);
        bPeer.Send([2]);
        release.Set();

        Assert.Equal([1], (await a.NextAsync()).Bytes);
        await ProveLoopMovedOnAsync(hold);
        Assert.NotNull(cRegistration);
        Assert.Equal(cRegistration.Slot, b.Slot);
        Assert.Equal(0, c.Calls);

        cPeer.Send([3]);
        Assert.Equal([3], (await c.NextAsync()).Bytes);
        hold.Stop();
        aRegistration.Stop();
        cRegistration.Stop();
    }

    [Fact]
    public async Task A_datagram_longer_than_a_slot_is_marked_truncated()
    {
        var (local, peer) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);

        peer.Send(new byte[DtlsConnection.MaxRecordDatagramSize + 1]);
        peer.Send(new byte[DtlsConnection.MaxRecordDatagramSize]);

        var longer = await receiver.NextAsync();
        Assert.True(longer.Truncated);
        var fits = await receiver.NextAsync();
        Assert.False(fits.Truncated);
        Assert.Equal(DtlsConnection.MaxRecordDatagramSize, fits.Bytes.Length);
        registration.Stop();
    }

    [Fact]
    public async Task Port_unreachable_for_a_datagram_sent_is_reported_as_ConnectionRefused()
    {
        // A connected socket whose peer port is closed: the kernel queues the ICMP error, and epoll reports it.
        using var closed = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        closed.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        var closedEndPoint = closed.LocalEndPoint!;
        closed.Dispose();
        var local = Track(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        local.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        local.Connect(closedEndPoint);
        var receiver = new RecordingReceiver(closedEndPoint.Serialize());
        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);

        local.Send([1]);

        Assert.Equal(SocketError.ConnectionRefused, await receiver.Errors.Reader.ReadAsync().AsTask().WaitAsync(s_timeout));
        registration.Stop();
    }

    [Fact]
    public async Task A_receiver_that_throws_is_stopped_and_told_and_the_loop_goes_on()
    {
        var (failingLocal, failingPeer) = ConnectedPair();
        var failing = new RecordingReceiver(failingPeer.LocalEndPoint!.Serialize()) { ThrowOnNextCall = true };
        var failingRegistration = PeerReceiveEngine.Shared!.Register(failingLocal, failing);

        failingPeer.Send([1]);
        var error = await failing.Failures.Task.WaitAsync(s_timeout);
        Assert.IsType<InvalidOperationException>(error);
        await failingRegistration.Ended.WaitAsync(s_timeout);

        // The loop still serves its sockets.
        await ProveLoopMovedOnAsync(failingRegistration);
    }

    [Fact]
    public async Task Work_deferred_to_a_loop_runs_on_its_thread_after_the_call_once_nothing_waits()
    {
        Assert.Null(PeerReceiveLoop.Current);

        // A loop of its own that never runs idle work early (a busy loop's bound: an hour), so only idleness can run it;
        // on the engine's, other tests' datagrams keep it busy. Its thread stays parked in epoll_wait (loops never end).
        var ownLoop = new PeerReceiveLoop(index: 99, batchCapacity: 8, datagramRoom: DtlsConnection.MaxRecordDatagramSize, maxIdleWorkDelay: TimeSpan.FromHours(1));
        var (local, peer) = ConnectedPair();
        var work = new RecordingIdleWork();
        RecordingReceiver? receiver = null;
        PeerReceiveLoop? loopInCall = null;
        receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize())
        {
            OnCall = () =>
            {
                loopInCall = PeerReceiveLoop.Current;
                loopInCall!.RunWhenIdle(work, receiver!);
            },
        };
        var registration = ownLoop.Add(local, receiver);

        peer.Send([1]);
        var (state, thread, loop, datagramsThen) = await work.Ran.Task.WaitAsync(s_timeout);

        Assert.Same(ownLoop, loopInCall);
        Assert.Same(receiver, state);
        Assert.Same(ownLoop, loop);
        Assert.StartsWith("DTLS receive", thread, StringComparison.Ordinal);

        // Not within the call: the datagram it read after deferring was there before the work ran.
        Assert.Equal(1, datagramsThen);
        registration.Stop();
    }

    [Fact]
    public async Task Work_deferred_to_a_loop_that_stays_busy_runs_while_it_is_still_busy()
    {
        // The receiver reads a batch and sends as many back each call, so its socket is never empty: the loop is never
        // idle until the feeding stops. Bounded: at most 50,000 calls.
        const int MaxCalls = 50_000;
        var (local, peer) = ConnectedPair();
        var work = new RecordingIdleWork();
        var receiver = new FeedingReceiver(peer, work, MaxCalls);
        for (int i = 0; i < 16; i++)
        {
            // Twice what one recvmmsg takes (8).
            peer.Send([1]);
        }

        var registration = PeerReceiveEngine.Shared!.Register(local, receiver);
        var (_, _, _, callsThen) = await work.Ran.Task.WaitAsync(s_timeout);

        Assert.True(callsThen < MaxCalls, $"the work ran after {callsThen} calls: only once the loop went idle");
        registration.Stop();
    }

    /// <summary>
    /// A datagram through a fresh socket on <paramref name="registration"/>'s loop has been delivered, sent after
    /// everything before: the loop (one thread, handling its events in order) has handled what it had fetched.
    /// </summary>
    private async Task ProveLoopMovedOnAsync(PeerReceiveRegistration registration)
    {
        var (local, peer) = ConnectedPair();
        var receiver = new RecordingReceiver(peer.LocalEndPoint!.Serialize());
        var marker = registration.Loop.Add(local, receiver);
        peer.Send([9]);
        await receiver.NextAsync();
        marker.Stop();
    }

    private static int CountWaiting(Socket socket)
    {
        int count = 0;
        var buffer = new byte[DtlsConnection.MaxRecordDatagramSize];
        while (socket.Available > 0)
        {
            socket.Receive(buffer);
            count++;
        }

        return count;
    }

    private (Socket Local, Socket Peer) ConnectedPair()
    {
        var local = Track(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        var peer = Track(new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp));
        local.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        peer.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        local.Connect(peer.LocalEndPoint!);
        peer.Connect(local.LocalEndPoint!);
        return (local, peer);
    }

    private Socket Track(Socket socket)
    {
        _sockets.Add(socket);
        return socket;
    }

    private sealed record Received(byte[] Bytes, bool FromPeer, bool Truncated, string Thread);

    /// <summary>Records where and when a loop ran it.</summary>
    private sealed class RecordingIdleWork : IIdleWork
    {
        /// <summary>Its state, thread and loop, and how far the state's receiver had got then (datagrams or calls).</summary>
        public TaskCompletionSource<(object State, string Thread, PeerReceiveLoop? Loop, int ProgressThen)> Ran { get; } =
            new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void RunWhenIdle(object state) =>
            Ran.TrySetResult((state, Thread.CurrentThread.Name ?? "", PeerReceiveLoop.Current,
                state switch
                {
                    RecordingReceiver receiver => receiver.Datagrams.Reader.Count,
                    FeedingReceiver feeding => feeding.Calls,
                    _ => -1,
                }));
    }

    /// <summary>Defers <c>work</c> on its first call; each call reads one batch and sends as many back, up to a bound.</summary>
    private sealed class FeedingReceiver(Socket peer, RecordingIdleWork work, int maxCalls) : IPeerDatagramReceiver
    {
        private int _calls;

        /// <summary>Calls so far (read on the loop's thread, as the work runs).</summary>
        public int Calls => _calls;

        public bool OnRegistered(PeerReceiveRegistration registration) => false;

        public void OnReadable(PeerReceiveRegistration registration, DatagramBatch batch)
        {
            if (++_calls == 1)
            {
                PeerReceiveLoop.Current!.RunWhenIdle(work, this);
            }

            int count = batch.Receive(registration.Handle, out _);
            for (int i = 0; i < count && _calls < maxCalls; i++)
            {
                peer.Send([1]);
            }
        }

        public void OnReceiveFailed(Exception error)
        {
        }
    }

    /// <summary>Reads everything the loop offers and records it; can pause or throw once on request.</summary>
    private sealed class RecordingReceiver(SocketAddress peer) : IPeerDatagramReceiver
    {
        private int _calls;

        public Channel<Received> Datagrams { get; } = Channel.CreateUnbounded<Received>();

        public Channel<SocketError> Errors { get; } = Channel.CreateUnbounded<SocketError>();

        public TaskCompletionSource Paused { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public TaskCompletionSource<Exception> Failures { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public bool PauseOnNextCall { get; set; }

        public bool ThrowOnNextCall { get; set; }

        /// <summary>Held in the next call (so is its loop) until set.</summary>
        public ManualResetEventSlim? HoldOnNextCall { get; set; }

        public TaskCompletionSource Held { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>Runs on the loop's thread at the start of every call.</summary>
        public Action? OnCall { get; init; }

        public int Calls => Volatile.Read(ref _calls);

        /// <summary>The next datagram received, within the test's timeout.</summary>
        public Task<Received> NextAsync() => Datagrams.Reader.ReadAsync().AsTask().WaitAsync(s_timeout);

        public bool OnRegistered(PeerReceiveRegistration registration) => false; // these tests register directly

        public void OnReadable(PeerReceiveRegistration registration, DatagramBatch batch)
        {
            Interlocked.Increment(ref _calls);
            OnCall?.Invoke();
            if (HoldOnNextCall is { } hold)
            {
                HoldOnNextCall = null;
                Held.TrySetResult();
                hold.Wait(s_timeout);
            }

            if (ThrowOnNextCall)
            {
                ThrowOnNextCall = false;
                throw new InvalidOperationException("the receiver failed");
            }

            if (PauseOnNextCall)
            {
                PauseOnNextCall = false;
                registration.Pause();
                Paused.TrySetResult();
                return;
            }

            while (true)
            {
                int count = batch.Receive(registration.Handle, out var error);
                if (count < 0)
                {
                    Errors.Writer.TryWrite(error);
                    continue;
                }

                for (int i = 0; i < count; i++)
                {
                    Datagrams.Writer.TryWrite(new Received(batch.Datagram(i).ToArray(), batch.CameFrom(i, peer), batch.IsTruncated(i), Thread.CurrentThread.Name ?? ""));
                }

                if (count < batch.Capacity)
                {
                    return;
                }
            }
        }

        public void OnReceiveFailed(Exception error) => Failures.TrySetResult(error);
    }
}
