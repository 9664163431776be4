using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Waits for a socket to have something to read: a datagram, a pending error (an ICMP report), or its shutdown.
/// </summary>
/// <remarks>
/// <see cref="Socket.Poll(TimeSpan, SelectMode)"/> cannot do this on Linux: a UDP socket with a pending ICMP error
/// makes <c>poll()</c> return at once with <c>POLLERR</c> only, which .NET does not count as readable, so a wait loop on
/// it spins until the error is read. Here <c>poll()</c> is called directly and any event counts; the read that follows
/// reports the error. Disposing the socket wakes the wait (.NET shuts a socket in use down before closing it).
/// </remarks>
internal static unsafe partial class SocketPoll
{
    private const short PollIn = 0x001;
    private const int Interrupted = 4; // EINTR on Linux, macOS and FreeBSD

    private static readonly bool s_native = OperatingSystem.IsLinux() || OperatingSystem.IsMacOS() || OperatingSystem.IsFreeBSD();

    /// <summary>
    /// Waits up to <paramref name="timeoutMillis"/> (0: only looks) for a datagram, an error or the socket's shutdown.
    /// True when there is something to read (a receive then does not block).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public static bool WaitReadable(Socket socket, int timeoutMillis)
    {
        if (!s_native)
        {
            return socket.Poll(TimeSpan.FromMilliseconds(timeoutMillis), SelectMode.SelectRead)
                || socket.Poll(TimeSpan.Zero, SelectMode.SelectError);
        }

        var handle = socket.SafeHandle;
        bool added = false;
        try
        {
            handle.DangerousAddRef(ref added);
            var fd = new PollFd { Fd = (int)handle.DangerousGetHandle(), Events = PollIn };
            long deadline = Environment.TickCount64 + timeoutMillis;
            while (true)
            {
                int result = Poll(&fd, 1, timeoutMillis);
                if (result >= 0)
                {
                    return result > 0;
                }

                int error = Marshal.GetLastPInvokeError();
                if (error != Interrupted)
                {
                    throw new SocketException(error);
                }

                // A signal (the runtime suspends threads with one): wait out the rest.
                timeoutMillis = (int)Math.Max(0, deadline - Environment.TickCount64);
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollFd
    {
        public int Fd;
        public short Events;
        public short Revents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollFd* fds, nuint count, int timeoutMillis);
}
