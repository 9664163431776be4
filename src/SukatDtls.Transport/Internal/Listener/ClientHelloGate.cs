using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The first stage of the listener: what a datagram from an unknown peer must pass before anything is allocated for
/// it. It must be a ClientHello (fragments are put back together first, <see cref="ClientHelloReassembler"/>), and it
/// must carry a valid cookie (<see cref="CookieVerifier"/>); without one, a HelloVerifyRequest leaves from the
/// listening socket and the peer is forgotten.
/// </summary>
/// <remarks>Called under the listener's dispatch lock only (one caller at a time), so its buffers are reused.</remarks>
internal sealed class ClientHelloGate : IDisposable
{
    private readonly CookieVerifier _cookies;
    private readonly HelloVerifySender _helloVerifySender = new();
    private readonly ClientHelloReassembler _reassembler;
    private readonly byte[] _reassembled = new byte[DtlsConnection.MaxRecordDatagramSize];
    private readonly byte[] _copy = new byte[DtlsConnection.MaxRecordDatagramSize];
    private readonly DtlsListenerStatistics _statistics;
    private readonly ILogger _logger;

    public ClientHelloGate(Socket listenSocket, TimeProvider timeProvider, TimeSpan cookieKeyRotationInterval,
        DtlsListenerStatistics statistics, ILogger logger, Action onCookieKeyRotated, byte[]? cookieSecret = null)
    {
        _helloVerifySender.Socket = listenSocket;
        _cookies = new CookieVerifier(timeProvider, cookieKeyRotationInterval, onCookieKeyRotated, cookieSecret);
        // Bounded state before the cookie: 128 ClientHellos of at most 8 KiB in progress, 5 s each (about 1 MiB at worst).
        _reassembler = new ClientHelloReassembler(maxPeers: 128, maxMessageLength: 8192, TimeSpan.FromSeconds(5), timeProvider);
        _statistics = statistics;
        _logger = logger;
    }

    /// <summary>
    /// Where the next HelloVerifyRequests leave from: the address the datagram being dispatched came to (a wildcard
    /// listener's, read per datagram on the receive loop); empty: where the kernel chooses.
    /// </summary>
    public void AnswerFrom(ReadOnlySpan<byte> destination) => _helloVerifySender.AnswerFrom(destination);

    /// <summary>The address given to <see cref="AnswerFrom"/>, where a new peer's socket binds too; null: not known.</summary>
    public IPAddress? AnsweringFrom => _helloVerifySender.Source;

    /// <summary>
    /// Takes a datagram from a peer the listener does not know. Returns the verified ClientHello (reassembled if it came
    /// in fragments) to start a handshake with when it is a ClientHello with a valid cookie. Otherwise the datagram was answered with a HelloVerifyRequest, kept as a fragment, or dropped, and null is returned.
    /// </summary>
    public VerifiedClientHello? Pass(byte[] buffer, int length, SocketAddress from)
    {
        var datagram = buffer.AsSpan(0, length);
        if (!ClientHelloRecord.IsClientHello(datagram))
        {
            _statistics.OnDatagramDropped("not_client_hello");
            if (_logger.IsEnabled(LogLevel.Trace))
            {
                DtlsLog.DatagramDropped(_logger, from.ToIPEndPoint(), datagram.Length, "not a ClientHello from an unknown peer");
            }

            return null;
        }

        if (ClientHelloRecord.IsFragment(datagram))
        {
            // A ClientHello too large for one of the client's datagrams: the verifier needs it whole.
            length = _reassembler.Add(from, datagram, _reassembled);
            if (length == 0)
            {
                _statistics.OnClientHelloFragmentHeld();
                return null;
            }

            _statistics.OnClientHelloReassembled();
            buffer = _reassembled;
        }

        return VerifyCookie(buffer, length, from);
    }

    /// <summary>
    /// The cookie check alone, for a ClientHello that arrived on an established peer's socket (the peer restarted on
    /// the same port): the verified ClientHello when its cookie is valid, else null (a HelloVerifyRequest went out).
    /// </summary>
    public VerifiedClientHello? VerifyCookie(ReadOnlySpan<byte> clientHello, SocketAddress from)
    {
        clientHello.CopyTo(_copy);
        return VerifyCookie(_copy, clientHello.Length, from);
    }

    private VerifiedClientHello? VerifyCookie(byte[] buffer, int length, SocketAddress from)
    {
        // Stateless until the cookie checks out: nothing is kept, or allocated, for a ClientHello that fails it.
        var clientId = from.Buffer.Span[..from.Size];
        _helloVerifySender.Target = from;
        VerifiedClientHello? request;
        bool cookieSent;
        try
        {
            request = _cookies.Verify(clientId, buffer, length, _helloVerifySender, out cookieSent);
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or InvalidOperationException or IndexOutOfRangeException)
        {
            request = null;
            cookieSent = false;
        }

        if (request is not null)
        {
            return request;
        }

        if (cookieSent)
        {
            _statistics.OnCookieSent();
            if (_logger.IsEnabled(LogLevel.Debug))
            {
                DtlsLog.CookieSent(_logger, from.ToIPEndPoint());
            }
        }
        else
        {
            _statistics.OnDatagramDropped("bad_client_hello");
            if (_logger.IsEnabled(LogLevel.Trace))
            {
                DtlsLog.DatagramDropped(_logger, from.ToIPEndPoint(), length, "unparsable or fragmented ClientHello");
            }
        }

        return null;
    }

    public void Dispose() => _cookies.Dispose();
}
