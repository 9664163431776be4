using System.Net;
using System.Net.Sockets;
using System.Security.Authentication;
using Microsoft.AspNetCore.Connections;
using Org.BouncyCastle.Tls;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Client;

/// <summary>
/// One address of a connect: its connection (socket included), the handshake running on a handshake thread, and how
/// it ended, in the terms the caller of <see cref="DtlsConnectionFactory.ConnectAsync(EndPoint, CancellationToken)"/> sees.
/// </summary>
internal sealed class ConnectAttempt
{
    private readonly TaskCompletionSource<Exception?> _ended = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public ConnectAttempt(IPEndPoint remote, DtlsConnection connection, DtlsClientPeer peer)
    {
        Remote = remote;
        Connection = connection;
        Peer = peer;
    }

    public IPEndPoint Remote { get; }

    public DtlsConnection Connection { get; }

    public DtlsClientPeer Peer { get; }

    /// <summary>
    /// Completes when the handshake thread is done with the attempt and its handshake place is free: with null when the
    /// handshake completed, else with why it failed. Never faults.
    /// </summary>
    public Task<Exception?> Ended => _ended.Task;

    /// <summary>The server sent something: an address that answers is given time, not a competitor.</summary>
    public bool HeardFromServer => Connection.Datagrams.HeardFromPeer;

    /// <summary>Completes when the ClientHello left: the server has been asked.</summary>
    public Task Asked => Connection.Datagrams.FirstDatagramSent;

    /// <summary>On the handshake thread, after the handshake place was freed.</summary>
    public void Complete(Exception? failure) => _ended.TrySetResult(failure);

    /// <summary>
    /// Ends an attempt that another one beat, or whose connect was cancelled or failed: the socket closes (which ends the
    /// handshake thread's wait), the handshake thread finishes, then the connection is disposed. A connection that
    /// completed its handshake meanwhile says close_notify.
    /// </summary>
    public async Task AbandonAsync(string reason)
    {
        Connection.Abort(new ConnectionAbortedException(reason));
        await Ended.ConfigureAwait(false);
        await Connection.DisposeAsync().ConfigureAwait(false);
    }

    /// <summary>The exception for the caller when this attempt's handshake failed with <paramref name="failure"/>.</summary>
    public Exception Translate(Exception failure, TimeSpan handshakeTimeout)
    {
        if ((Connection.Datagrams.UnreachableError ?? (failure as DestinationUnreachableException)?.Error) is { } unreachable)
        {
            return Unreachable(unreachable, [Remote]);
        }

        if (Connection.AbortReason?.InnerException is SocketException socketError)
        {
            // The socket failed during the handshake (an ICMP error the handshake does not weigh, say).
            return new SocketException(socketError.ErrorCode, $"Cannot reach {Remote}: {socketError.Message}.");
        }

        if (Peer.CertificateRejection is { } rejection)
        {
            return new AuthenticationException($"The server certificate of {Remote} was rejected: {rejection}.", failure);
        }

        return failure switch
        {
            TlsTimeoutException => new TimeoutException(
                $"No DTLS handshake with {Remote} within {handshakeTimeout.TotalSeconds:0.###} s: the server did not answer.", failure),
            TlsFatalAlertReceived received => new AuthenticationException(
                $"The server {Remote} refused the handshake with alert {AlertDescription.GetText(received.AlertDescription)}{Peer.ExplainServerAlert(received.AlertDescription)}.", failure),
            TlsFatalAlert alert => new AuthenticationException(
                $"The DTLS handshake with {Remote} failed: {AlertDescription.GetText(alert.AlertDescription)} ({alert.Message}).", failure),
            _ => new IOException($"The DTLS handshake with {Remote} failed: {failure.Message}", failure),
        };
    }

    /// <summary>
    /// The server cannot be reached, as .NET reports it for TCP: a <see cref="SocketException"/> with
    /// <paramref name="error"/> (<see cref="SocketError.ConnectionRefused"/> when nothing listens), naming every address
    /// and port that said so.
    /// </summary>
    public static SocketException Unreachable(SocketError error, IReadOnlyList<IPEndPoint> remotes)
    {
        string where = string.Join(", ", remotes);
        return new SocketException((int)error, error switch
        {
            SocketError.ConnectionRefused =>
                $"Connection refused by {where}: nothing listens on {(remotes.Count == 1 ? "that UDP port" : "those UDP ports")} (ICMP port unreachable, again for a resend).",
            SocketError.NetworkUnreachable =>
                $"The network of {where} is unreachable: ICMP network unreachable (administratively prohibited: a firewall rejects), again for a resend.",
            _ => $"{where} is unreachable: ICMP host unreachable (administratively prohibited: a firewall rejects), again for a resend.",
        });
    }
}
