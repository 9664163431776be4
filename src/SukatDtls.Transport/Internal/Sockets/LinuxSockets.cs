using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The Linux system calls of the peer sockets' receive loops (<see cref="PeerReceiveEngine"/>): epoll and
/// <c>recvmmsg</c>; and <c>send</c> for an established connection's records. Sockets are passed as
/// <see cref="SafeHandle"/>s, so a socket closed on another thread can never have its descriptor number reused under a
/// call (the call holds a reference, and fails on a closed handle).
/// </summary>
internal static unsafe partial class LinuxSockets
{
    public const uint EpollIn = 0x001;
    public const uint EpollOneShot = 1u << 30;

    public const int EpollCtlAdd = 1;
    public const int EpollCtlDel = 2;
    public const int EpollCtlMod = 3;

    public const int MsgDontWait = 0x40;
    public const int MsgTrunc = 0x20;

    private const int EpollCloExec = 0x80000;

    // errno values (Linux; the loops run only there).
    public const int Interrupted = 4;       // EINTR
    public const int WouldBlock = 11;       // EAGAIN
    public const int MessageTooLong = 90;   // EMSGSIZE
    public const int NetworkUnreachable = 101;
    public const int ConnectionRefused = 111;
    public const int HostUnreachable = 113;

    /// <summary>
    /// The size of <c>struct epoll_event</c> and the offset of its data: packed (12 bytes) on x86-64, naturally aligned
    /// (16) elsewhere.
    /// </summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int s_epollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    /// <summary>Whether the loops can run here: Linux on a 64-bit processor whose structure layouts are the ones above.</summary>
    public static bool IsSupported =>
        OperatingSystem.IsLinux() && RuntimeInformation.ProcessArchitecture is Architecture.X64 or Architecture.Arm64;

    /// <summary>A new epoll instance.</summary>
    public static int CreateEpoll()
    {
        int fd = EpollCreate1(EpollCloExec);
        if (fd < 0)
        {
            throw new SocketException(Marshal.GetLastPInvokeError());
        }

        return fd;
    }

    /// <summary>Adds, changes or removes a socket's interest; returns the errno (0: done).</summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public static int Control(int epoll, int operation, SafeHandle socket, uint events, ulong data)
    {
        byte* ev = stackalloc byte[16];
        *(uint*)ev = events;
        *(ulong*)(ev + s_epollDataOffset) = data;
        return EpollCtl(epoll, operation, socket, ev) == 0 ? 0 : Marshal.GetLastPInvokeError();
    }

    /// <summary>Waits for events; the count, or -errno.</summary>
    public static int Wait(int epoll, byte* events, int maxEvents, int timeoutMillis)
    {
        int count = EpollWait(epoll, events, maxEvents, timeoutMillis);
        return count >= 0 ? count : -Marshal.GetLastPInvokeError();
    }

    /// <summary>The data of the <paramref name="index"/>th entry of an epoll_wait result.</summary>
    public static ulong DataAt(byte* events, int index) => *(ulong*)(events + index * EpollEventSize + s_epollDataOffset);

    /// <summary>Receives up to <paramref name="count"/> datagrams without waiting; the count, or -errno.</summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public static int ReceiveMany(SafeHandle socket, MessageHeader* messages, int count)
    {
        int received = RecvMMsg(socket, messages, (uint)count, MsgDontWait, null);
        return received >= 0 ? received : -Marshal.GetLastPInvokeError();
    }

    /// <summary>
    /// Sends one datagram on a connected socket; 0, or the errno. .NET's
    /// <see cref="Socket.Send(ReadOnlySpan{byte}, SocketFlags, out SocketError)"/> does the same system call, but its
    /// checks, blocking-mode bookkeeping and errno translation cost about 2 % of an echoed record's CPU (perf, native
    /// echo sample): this is every record's path.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public static int Send(SafeHandle socket, ReadOnlySpan<byte> datagram)
    {
        fixed (byte* data = datagram)
        {
            return SendCall(socket, data, (nuint)datagram.Length, 0) >= 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>
    /// Sends one datagram to <paramref name="target"/> from the local address <paramref name="source"/> (4 bytes: IPv4,
    /// <c>IP_PKTINFO</c>; 16: IPv6 or, on a dual-stack socket, IPv4-mapped, <c>IPV6_PKTINFO</c>): a wildcard socket's
    /// answer leaves from the address its datagram came to, not the one the routing table would pick. 0, or the errno.
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public static int SendFrom(SafeHandle socket, ReadOnlySpan<byte> datagram, System.Net.SocketAddress target, ReadOnlySpan<byte> source)
    {
        // One cmsghdr (16 bytes) and an in6_pktinfo (20) or in_pktinfo (12), padded to 8.
        byte* control = stackalloc byte[40];
        new Span<byte>(control, 40).Clear();
        bool ipv6 = source.Length == 16;
        int dataLength = ipv6 ? 20 : 12;
        *(nuint*)control = (nuint)(16 + dataLength);
        *(int*)(control + 8) = ipv6 ? 41 : 0;  // IPPROTO_IPV6, IPPROTO_IP
        *(int*)(control + 12) = ipv6 ? 50 : 8; // IPV6_PKTINFO, IP_PKTINFO
        // in6_pktinfo { addr; ifindex = 0 }; in_pktinfo { ifindex = 0; spec_dst (the source); addr }.
        source.CopyTo(new Span<byte>(control + 16 + (ipv6 ? 0 : 4), source.Length));

        var name = target.Buffer.Span[..target.Size];
        fixed (byte* data = datagram)
        fixed (byte* address = name)
        {
            var vector = new IoVector { Base = data, Length = (nuint)datagram.Length };
            var message = new MessageHeader
            {
                Name = address,
                NameLength = (uint)name.Length,
                Vectors = &vector,
                VectorCount = 1,
                Control = control,
                ControlLength = (nuint)(16 + ((dataLength + 7) & ~7)),
            };
            return SendMsg(socket, &message, 0) >= 0 ? 0 : Marshal.GetLastPInvokeError();
        }
    }

    /// <summary>The socket error an ICMP report or a receive or send failure stands for (as .NET reports them).</summary>
    public static SocketError ToSocketError(int errno) => errno switch
    {
        WouldBlock => SocketError.WouldBlock,
        MessageTooLong => SocketError.MessageSize,
        Interrupted => SocketError.Interrupted,
        ConnectionRefused => SocketError.ConnectionRefused,
        HostUnreachable => SocketError.HostUnreachable,
        NetworkUnreachable => SocketError.NetworkUnreachable,
        9 or 88 => SocketError.NotSocket,               // EBADF, ENOTSOCK
        12 or 105 => SocketError.NoBufferSpaceAvailable, // ENOMEM, ENOBUFS
        _ => SocketError.SocketError,
    };

    /// <summary><c>struct iovec</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct IoVector
    {
        public byte* Base;
        public nuint Length;
    }

    /// <summary><c>struct mmsghdr</c> (a <c>struct msghdr</c> and the received length) on 64-bit Linux.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct MessageHeader
    {
        public byte* Name;
        public uint NameLength;
        public IoVector* Vectors;
        public nuint VectorCount;
        public byte* Control;
        public nuint ControlLength;
        public int Flags;
        private readonly int _msghdrPadding; // struct msghdr is 56 bytes: msg_len follows at 56
        public uint Length;
    }

    [LibraryImport("libc", EntryPoint = "epoll_create1", SetLastError = true)]
    private static partial int EpollCreate1(int flags);

    [LibraryImport("libc", EntryPoint = "epoll_ctl", SetLastError = true)]
    private static partial int EpollCtl(int epoll, int operation, SafeHandle socket, byte* ev);

    [LibraryImport("libc", EntryPoint = "epoll_wait", SetLastError = true)]
    private static partial int EpollWait(int epoll, byte* events, int maxEvents, int timeoutMillis);

    [LibraryImport("libc", EntryPoint = "send", SetLastError = true)]
    private static partial nint SendCall(SafeHandle socket, byte* data, nuint length, int flags);

    [LibraryImport("libc", EntryPoint = "sendmsg", SetLastError = true)]
    private static partial nint SendMsg(SafeHandle socket, MessageHeader* message, int flags);

    [LibraryImport("libc", EntryPoint = "recvmmsg", SetLastError = true)]
    private static partial int RecvMMsg(SafeHandle socket, MessageHeader* messages, uint count, int flags, void* timeout);
}
