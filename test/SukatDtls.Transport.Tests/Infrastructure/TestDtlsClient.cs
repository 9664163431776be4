using System.Net;
using System.Net.Sockets;
using System.Text;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A plain BouncyCastle DTLS 1.2 client on a connected UDP socket, independent of the transport under test.
/// Blocking by nature: handshakes run on dedicated threads so that the server's thread pool is not starved.
/// </summary>
internal sealed class TestDtlsClient : IDisposable
{
    private static readonly BcTlsCrypto s_crypto = new(new SecureRandom());

    private readonly Client _client;
    private readonly TestUdpTransport _transport;

    private TestDtlsClient(Socket socket, DtlsTransport dtls, Client client, TestUdpTransport transport)
    {
        Socket = socket;
        Dtls = dtls;
        _client = client;
        _transport = transport;
    }

    /// <summary>When set, the next datagram is handed to this callback instead of being sent.</summary>
    public Action<byte[]>? DivertNextDatagram
    {
        get => _transport.Divert;
        set => _transport.Divert = value;
    }

    public Socket Socket { get; }

    public DtlsTransport Dtls { get; }

    public IPEndPoint LocalEndPoint => (IPEndPoint)Socket.LocalEndPoint!;

    public bool PeerSentCloseNotify => _client.CloseNotifyReceived;

    public int CipherSuite => _client.NegotiatedCipherSuite;

    public TlsCertificate? ServerCertificate => _client.ServerCertificate;

    /// <param name="server">Where to connect.</param>
    /// <param name="localEndPoint">A fixed local address and port, else any.</param>
    /// <param name="handshakeTimeoutMillis">The client's own handshake timeout.</param>
    /// <param name="stopSendingAfter">Go silent after this many datagrams (a peer that vanishes mid-handshake).</param>
    /// <param name="cipherSuites">The suites to offer, else AEAD ECDHE-ECDSA and ECDHE-RSA.</param>
    /// <param name="beforeSend">Called with the 1-based number of each datagram before it is sent.</param>
    /// <param name="duplicateSends">Send every datagram twice, as a duplicating network would.</param>
    /// <param name="sent">Called with the 1-based number and a copy of each datagram after it was sent.</param>
    /// <param name="sendLimit">The client's datagram limit: BouncyCastle fragments handshake messages to fit (a small one
    /// makes the ClientHello arrive in fragments).</param>
    public static Task<TestDtlsClient> ConnectAsync(IPEndPoint server, IPEndPoint? localEndPoint = null, int handshakeTimeoutMillis = 10_000,
        int? stopSendingAfter = null, int[]? cipherSuites = null, Action<int>? beforeSend = null, bool duplicateSends = false,
        Action<int, byte[]>? sent = null, int sendLimit = 1_400) =>
        Task.Factory.StartNew(() => Connect(server, localEndPoint, handshakeTimeoutMillis, stopSendingAfter, cipherSuites, beforeSend, duplicateSends, sent, sendLimit),
            CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static TestDtlsClient Connect(IPEndPoint server, IPEndPoint? localEndPoint = null, int handshakeTimeoutMillis = 10_000,
        int? stopSendingAfter = null, int[]? cipherSuites = null, Action<int>? beforeSend = null, bool duplicateSends = false,
        Action<int, byte[]>? sent = null, int sendLimit = 1_400)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (localEndPoint is not null)
            {
                socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
                socket.Bind(localEndPoint);
            }

            socket.Connect(server);
            var client = new Client(handshakeTimeoutMillis, cipherSuites);
            var transport = new TestUdpTransport(socket, stopSendingAfter ?? int.MaxValue, beforeSend, duplicateSends, sent)
            {
                SendLimit = sendLimit,
            };
            var dtls = new DtlsClientProtocol().Connect(client, transport);
            return new TestDtlsClient(socket, dtls, client, transport);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Send(byte[] data) => Dtls.Send(data, 0, data.Length);

    public void Send(string text) => Send(Encoding.UTF8.GetBytes(text));

    /// <summary>The next application record, or null when none arrives within <paramref name="timeoutMillis"/>.</summary>
    public byte[]? Receive(int timeoutMillis = 10_000)
    {
        var buffer = new byte[Dtls.GetReceiveLimit()];
        try
        {
            int length = Dtls.Receive(buffer, 0, buffer.Length, timeoutMillis);
            return length < 0 ? null : buffer.AsSpan(0, length).ToArray();
        }
        catch (Exception) when (PeerSentCloseNotify)
        {
            // BouncyCastle answers close_notify, closes our transport and then fails on it: that is the end of data.
            return null;
        }
    }

    public string? ReceiveText(int timeoutMillis = 10_000) =>
        Receive(timeoutMillis) is { } data ? Encoding.UTF8.GetString(data) : null;

    /// <summary>Sends close_notify and closes the socket.</summary>
    public void Close() => Dtls.Close();

    /// <summary>Closes the socket without close_notify, as a crashed client would.</summary>
    public void Dispose() => Socket.Dispose();

    private sealed class Client(int handshakeTimeoutMillis, int[]? cipherSuites) : DefaultTlsClient(s_crypto)
    {
        public volatile bool CloseNotifyReceived;

        public int NegotiatedCipherSuite { get; private set; }

        public TlsCertificate? ServerCertificate { get; set; }

        public override int GetHandshakeTimeoutMillis() => handshakeTimeoutMillis;

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        protected override int[] GetSupportedCipherSuites() => TlsUtilities.GetSupportedCipherSuites(Crypto, cipherSuites ??
        [
            Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
            Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
            Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
            Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
            Org.BouncyCastle.Tls.CipherSuite.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        ]);

        public override TlsAuthentication GetAuthentication() => new AcceptAnyServer(this);

        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            NegotiatedCipherSuite = m_context.SecurityParameters.CipherSuite;
        }

        public override void NotifyAlertReceived(short alertLevel, short alertDescription)
        {
            base.NotifyAlertReceived(alertLevel, alertDescription);
            if (alertDescription == AlertDescription.close_notify)
            {
                CloseNotifyReceived = true;
            }
        }
    }

    /// <summary>Test client only: the transport's certificate validation is tested elsewhere.</summary>
    private sealed class AcceptAnyServer(Client client) : TlsAuthentication
    {
        public void NotifyServerCertificate(TlsServerCertificate serverCertificate) =>
            client.ServerCertificate = serverCertificate.Certificate.GetCertificateAt(0);

        public TlsCredentials? GetClientCredentials(CertificateRequest certificateRequest) => null;
    }
}
