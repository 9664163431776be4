using System.Buffers;
using System.IO.Pipelines;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.AspNetCore.Connections;

namespace SukatDtls.Transport.Internal;

/// <summary>Sending: the output pipe cut into records of at most the record send limit.</summary>
internal sealed partial class DtlsConnection
{
    private async Task SendLoopAsync(PipeReader output)
    {
        Exception? error = null;
        try
        {
            while (true)
            {
                var result = await output.ReadAsync().ConfigureAwait(false);
                var buffer = result.Buffer;
                try
                {
                    if (result.IsCanceled)
                    {
                        break;
                    }

                    if (!buffer.IsEmpty)
                    {
                        SendRecords(buffer);
                    }
                }
                finally
                {
                    output.AdvanceTo(buffer.End);
                }

                if (result.IsCompleted)
                {
                    break;
                }
            }
        }
        catch (Exception ex)
        {
            error = ex;
            if (!_closing)
            {
                DtlsLog.ConnectionError(_logger, ConnectionId, RemoteEndPoint!, "sending failed", ex);
                Abort(new ConnectionAbortedException("Sending to the peer failed.", ex));
            }
        }
        finally
        {
            output.Complete(error);
        }
    }

    /// <summary>Cuts <paramref name="buffer"/> into records of at most <see cref="_maxRecordSize"/> bytes, one datagram each.</summary>
    private void SendRecords(ReadOnlySequence<byte> buffer)
    {
        var records = _records!;
        byte[] datagram = ArrayPool<byte>.Shared.Rent(MaxRecordDatagramSize);
        try
        {
            while (!buffer.IsEmpty && !_closing)
            {
                var chunk = buffer.Slice(0, Math.Min(_maxRecordSize, buffer.Length));
                int length = records.Seal(DtlsContentType.ApplicationData, chunk, datagram);
                if (!TrySend(datagram.AsSpan(0, length)))
                {
                    // The path MTU is smaller than we thought: the record did not leave. The limit is lower now; cut
                    // the same bytes again (a new record) rather than lose them.
                    continue;
                }

                _metrics?.RecordSent((int)chunk.Length);
                buffer = buffer.Slice(chunk.End);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram);
        }
    }

    /// <summary>
    /// Sends one datagram. False when the kernel refused it as larger than the path allows (EMSGSIZE): the limit is
    /// lowered to what the kernel knows of the path, and the caller cuts the data anew. Other send errors of UDP (an
    /// ICMP error left by an earlier datagram, a momentarily full buffer) lose the datagram, as the network could.
    /// </summary>
    private bool TrySend(ReadOnlySpan<byte> datagram)
    {
        if (!MaySendOnPath(datagram.Length))
        {
            // A new address that has not shown it receives: over its budget, the datagram is lost, as on a network.
            return true;
        }

        var socket = Volatile.Read(ref _socket);
        if (_detached)
        {
            // No address until the peer shows up again (Migration): lost, as on a network.
            return true;
        }

        SocketError error;
        try
        {
            error = Send(socket, datagram);
        }
        catch (ObjectDisposedException) when (_detached)
        {
            return true;
        }

        switch (error)
        {
            case SocketError.Success:
            case SocketError.ConnectionRefused or SocketError.NoBufferSpaceAvailable or SocketError.WouldBlock:
                return true;
            case SocketError.MessageSize:
                int lower = Math.Min(DatagramSizes.PathPayload(socket) ?? datagram.Length * 3 / 4, datagram.Length - 1);
                _sendLimit = Math.Max(DatagramSizes.Minimum, Math.Min(_sendLimit, lower));
                _maxRecordSize = Math.Max(1, _records!.MaxPlaintext(_sendLimit));
                return false;
            default:
                throw new SocketException((int)error);
        }
    }

    /// <summary>One send system call; the error, not an exception, for what UDP reports (<see cref="TrySend"/> sorts them).</summary>
    private SocketError Send(Socket socket, ReadOnlySpan<byte> datagram)
    {
        // Only with our receive loops: .NET's engine (the fallback) makes the descriptor non-blocking and then emulates a
        // blocking send, which a direct call would not; ours never changes the descriptor's mode.
        if (_receiveEngine is not null)
        {
            int errno = LinuxSockets.Send(socket.SafeHandle, datagram);
            if (errno == 0)
            {
                return SocketError.Success;
            }

            var known = LinuxSockets.ToSocketError(errno);
            return known != SocketError.SocketError
                ? known
                : throw new SocketException((int)known, $"send(2) to the peer failed: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno}).");
        }

        socket.Send(datagram, SocketFlags.None, out SocketError error);
        return error;
    }

    /// <summary>Sends an alert record (close_notify); best effort, like any datagram.</summary>
    private void SendAlert(byte level, byte description)
    {
        if (Volatile.Read(ref _records) is not { } records)
        {
            return;
        }

        Span<byte> alert = [level, description];
        byte[] datagram = ArrayPool<byte>.Shared.Rent(records.SealedLength(alert.Length));
        try
        {
            int length = records.Seal(DtlsContentType.Alert, alert, datagram);
            TrySend(datagram.AsSpan(0, length));
        }
        catch (Exception ex) when (ex is ObjectDisposedException or SocketException)
        {
            // The socket or the ciphers are gone: the connection is closing anyway.
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(datagram);
        }
    }

    /// <summary>The peer resent its last flight: ours was lost. Resend it as it was (its records authenticate as before).</summary>
    private void ResendFinalFlight(DtlsRecordLayer records)
    {
        if (records.TakeFinalFlight() is not { } flight)
        {
            return;
        }

        foreach (var datagram in flight)
        {
            TrySend(datagram);
        }
    }
}
