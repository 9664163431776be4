using System.Net.Sockets;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The receive loops of established connections' peer sockets on Linux: a thread per two cores waiting in <c>epoll_wait</c>
/// that reads a readable socket's datagrams with <c>recvmmsg</c> and hands them to the connection right there.
/// </summary>
/// <remarks>
/// <para>
/// Why not .NET's socket engine: it completes every receive by handing it from its epoll thread to a thread-pool worker,
/// so each received record cost two wake-ups before the application saw it (the socket engine's, then the worker's),
/// three with the application's own read on the thread pool; measured, that hop was the largest single cost of an
/// echoed record (docs/benchmarks.md, "Where the time goes"). Here the loop's thread decrypts the records and flushes
/// them into the input pipe itself: one wake-up per datagram burst, and with
/// <see cref="DtlsTransportOptions.UnsafePreferInlineScheduling"/> the application's read runs on it too (Kestrel's
/// trade: its code then runs on the I/O thread).
/// </para>
/// <para>
/// A peer socket is never used with .NET's asynchronous operations, so .NET's engine never registers it; sends stay
/// .NET's synchronous <see cref="Socket.Send(ReadOnlySpan{byte}, SocketFlags)"/>. Loops are process-wide, like .NET's
/// engine, started with the first connection and never ended; a socket stays on the loop it was given.
/// </para>
/// </remarks>
internal sealed class PeerReceiveEngine
{
    /// <summary>Datagrams one <c>recvmmsg</c> takes at most.</summary>
    private const int BatchCapacity = 8;

    /// <summary>
    /// How long a loop defers idle work (<see cref="PeerReceiveLoop.RunWhenIdle"/>) at most while it stays busy: short
    /// against any network round trip, long enough to gather what a busy loop finishes meanwhile.
    /// </summary>
    private static readonly TimeSpan s_maxIdleWorkDelay = TimeSpan.FromMilliseconds(1);

    /// <summary>The environment variable that sets how many loops run (as <c>DOTNET_SYSTEM_NET_SOCKETS_THREAD_COUNT</c> does for .NET's engine).</summary>
    public const string ThreadCountVariable = "SUKAT_DTLS_RECEIVE_THREAD_COUNT";

    private static readonly Lazy<PeerReceiveEngine?> s_shared = new(
        () => LinuxSockets.IsSupported ? new PeerReceiveEngine(LoopCount(Environment.GetEnvironmentVariable(ThreadCountVariable), Environment.ProcessorCount)) : null);

    private readonly PeerReceiveLoop[] _loops;
    private uint _next;

    private PeerReceiveEngine(int loops)
    {
        _loops = new PeerReceiveLoop[loops];
        for (int i = 0; i < loops; i++)
        {
            _loops[i] = new PeerReceiveLoop(i, BatchCapacity, DtlsConnection.MaxRecordDatagramSize, s_maxIdleWorkDelay);
        }
    }

    /// <summary>The process's engine; null where it cannot run (not Linux on x64 or Arm64): connections then use .NET's socket engine.</summary>
    public static PeerReceiveEngine? Shared => s_shared.Value;

    /// <summary>
    /// How many loops run: <paramref name="configured"/> when it is a number from 1 to 64, else one per two cores. On the
    /// 2-core benchmark machine one loop took 17.5–19 µs of server CPU per echoed record (1.00× the single-threaded C
    /// reference, twice) and two 21–24 µs (1.20–1.45×) at the same records/s: a second loop mostly adds cross-core
    /// wake-ups. Half the cores leaves the rest to the thread pool, the handshakes and the application.
    /// </summary>
    internal static int LoopCount(string? configured, int processors) =>
        int.TryParse(configured, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out int count) && count is >= 1 and <= 64
            ? count
            : Math.Clamp(processors / 2, 1, 16);

    /// <summary>
    /// Receives from <paramref name="socket"/> on a loop until its registration stops; at once when the socket is closed
    /// before it could be added.
    /// </summary>
    /// <param name="socket">The socket.</param>
    /// <param name="receiver">Called on the loop's thread when the socket is readable.</param>
    /// <returns>
    /// The registration's end (not an async method: an idle connection waits here, and a state machine would be another
    /// 136 bytes it holds).
    /// </returns>
    public Task ReceiveUntilStoppedAsync(Socket socket, IPeerDatagramReceiver receiver)
    {
        PeerReceiveRegistration registration;
        try
        {
            registration = Register(socket, receiver);
        }
        catch (ObjectDisposedException)
        {
            return Task.CompletedTask;
        }

        if (receiver.OnRegistered(registration))
        {
            registration.Stop();
        }

        return registration.Ended;
    }

    /// <summary>Adds <paramref name="socket"/> to a loop, armed: <paramref name="receiver"/> is called when it is readable.</summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public PeerReceiveRegistration Register(Socket socket, IPeerDatagramReceiver receiver) =>
        _loops[Interlocked.Increment(ref _next) % (uint)_loops.Length].Add(socket, receiver);
}
