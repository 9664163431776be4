using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// One receive loop's buffers for <c>recvmmsg</c>: up to <see cref="Capacity"/> datagrams and their source addresses per
/// system call, in native memory that lives as long as the loop, so receiving allocates nothing.
/// </summary>
/// <remarks>Used only on its loop's thread, by one receiver at a time; the spans it hands out are valid until the next receive.</remarks>
internal sealed unsafe class DatagramBatch
{
    /// <summary>Room for any socket address (<c>struct sockaddr_storage</c>).</summary>
    private const int AddressRoom = 128;

    /// <summary>
    /// Room for the ancillary data of a datagram: the destination address a listening socket asks for
    /// (<c>IP_PKTINFO</c>, <c>IPV6_RECVPKTINFO</c>; one <c>cmsghdr</c> and an <c>in6_pktinfo</c> are 36 bytes).
    /// </summary>
    private const int ControlRoom = 64;

    // Linux: struct cmsghdr is { size_t cmsg_len; int cmsg_level; int cmsg_type; } and data follows at 16.
    private const int ControlHeaderLength = 16;
    private const int IpProtocol = 0;      // IPPROTO_IP
    private const int IpPacketInfo = 8;    // IP_PKTINFO: struct in_pktinfo { int ifindex; in_addr spec_dst; in_addr addr; }
    private const int Ipv6Protocol = 41;   // IPPROTO_IPV6
    private const int Ipv6PacketInfo = 50; // IPV6_PKTINFO: struct in6_pktinfo { in6_addr addr; int ifindex; }

    private readonly int _slotSize;
    private readonly byte* _buffers;
    private readonly byte* _addresses;
    private readonly byte* _controls;
    private readonly LinuxSockets.IoVector* _vectors;
    private readonly LinuxSockets.MessageHeader* _messages;

    public DatagramBatch(int capacity, int slotSize)
    {
        Capacity = capacity;
        _slotSize = slotSize;
        _buffers = (byte*)NativeMemory.Alloc((nuint)(capacity * slotSize));
        _addresses = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * AddressRoom));
        _controls = (byte*)NativeMemory.AllocZeroed((nuint)(capacity * ControlRoom));
        _vectors = (LinuxSockets.IoVector*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(LinuxSockets.IoVector)));
        _messages = (LinuxSockets.MessageHeader*)NativeMemory.AllocZeroed((nuint)(capacity * sizeof(LinuxSockets.MessageHeader)));
        for (int i = 0; i < capacity; i++)
        {
            _vectors[i].Base = _buffers + (i * slotSize);
            _vectors[i].Length = (nuint)slotSize;
            _messages[i].Vectors = &_vectors[i];
            _messages[i].VectorCount = 1;
            _messages[i].Name = _addresses + (i * AddressRoom);
            _messages[i].Control = _controls + (i * ControlRoom);
        }
    }

    /// <summary>How many datagrams one receive takes at most.</summary>
    public int Capacity { get; }

    /// <summary>
    /// Receives what is waiting on <paramref name="socket"/>, up to <see cref="Capacity"/> datagrams, without waiting:
    /// the count (0 when nothing is waiting), or -1 with <paramref name="error"/> (an ICMP report for something sent,
    /// or a failure).
    /// </summary>
    /// <exception cref="ObjectDisposedException">The socket is closed.</exception>
    public int Receive(SafeHandle socket, out SocketError error)
    {
        for (int i = 0; i < Capacity; i++)
        {
            // In-out: the kernel writes the address's real length back (and the ancillary data's: none, unless the
            // socket asked for its datagrams' destination).
            _messages[i].NameLength = AddressRoom;
            _messages[i].ControlLength = ControlRoom;
            _messages[i].Flags = 0;
        }

        while (true)
        {
            int result = LinuxSockets.ReceiveMany(socket, _messages, Capacity);
            if (result >= 0)
            {
                error = SocketError.Success;
                return result;
            }

            error = LinuxSockets.ToSocketError(-result);
            if (error == SocketError.WouldBlock)
            {
                error = SocketError.Success;
                return 0;
            }

            if (error != SocketError.Interrupted)
            {
                return -1;
            }
        }
    }

    /// <summary>The <paramref name="index"/>th datagram received (writable: records are decrypted in place).</summary>
    public Span<byte> Datagram(int index) => new(_buffers + (index * _slotSize), (int)_messages[index].Length);

    /// <summary>Whether the <paramref name="index"/>th datagram was longer than a slot (its tail is lost).</summary>
    public bool IsTruncated(int index) => (_messages[index].Flags & LinuxSockets.MsgTrunc) != 0;

    /// <summary>Whether the <paramref name="index"/>th datagram came from <paramref name="address"/>.</summary>
    public bool CameFrom(int index, SocketAddress address) => Source(index).SequenceEqual(address.Buffer.Span[..address.Size]);

    /// <summary>Where the <paramref name="index"/>th datagram came from, as a new <see cref="SocketAddress"/>.</summary>
    public SocketAddress SourceAddress(int index, AddressFamily family)
    {
        var source = Source(index);
        var address = new SocketAddress(family, source.Length);
        source.CopyTo(address.Buffer.Span);
        return address;
    }

    /// <summary>Writes where the <paramref name="index"/>th datagram came from into <paramref name="address"/> (made for its family).</summary>
    public void CopySource(int index, SocketAddress address)
    {
        var source = Source(index);
        source.CopyTo(address.Buffer.Span);
        address.Size = source.Length;
    }

    /// <summary>
    /// The address the <paramref name="index"/>th datagram was sent to (its IP header's destination), written into
    /// <paramref name="destination"/> (16 bytes at least): its length, 4 (IPv4) or 16 (IPv6; an IPv4 datagram on a
    /// dual-stack socket in its mapped form), or 0 when the socket did not ask for it (<see cref="UdpSockets.Listen"/>).
    /// </summary>
    public int CopyDestination(int index, Span<byte> destination)
    {
        byte* control = _controls + (index * ControlRoom);
        nuint length = Math.Min(_messages[index].ControlLength, (nuint)ControlRoom);
        nuint offset = 0;
        while (offset + ControlHeaderLength <= length)
        {
            nuint messageLength = *(nuint*)(control + offset);
            int level = *(int*)(control + offset + 8);
            int type = *(int*)(control + offset + 12);
            if (messageLength < ControlHeaderLength || offset + messageLength > length)
            {
                break;
            }

            var data = new ReadOnlySpan<byte>(control + offset + ControlHeaderLength, (int)(messageLength - ControlHeaderLength));
            if (level == IpProtocol && type == IpPacketInfo && data.Length >= 12)
            {
                data.Slice(8, 4).CopyTo(destination);
                return 4;
            }

            if (level == Ipv6Protocol && type == Ipv6PacketInfo && data.Length >= 16)
            {
                data[..16].CopyTo(destination);
                return 16;
            }

            // CMSG_NXTHDR: the next header starts at the next multiple of sizeof(size_t).
            offset += (messageLength + 7) & ~(nuint)7;
        }

        return 0;
    }

    private ReadOnlySpan<byte> Source(int index) =>
        new(_addresses + (index * AddressRoom), (int)Math.Min(_messages[index].NameLength, AddressRoom));
}
