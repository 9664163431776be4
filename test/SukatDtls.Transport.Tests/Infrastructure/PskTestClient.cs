using System.Net;
using System.Net.Sockets;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// A plain BouncyCastle DTLS 1.2 PSK client offering exactly the given suites, on a connected UDP socket the test can
/// also write raw datagrams to. Independent of the transport's own client (which offers all PSK suites in a fixed
/// order), so that each suite can be tested against the server.
/// </summary>
internal sealed class PskTestClient : IDisposable
{
    private static readonly BcTlsCrypto s_crypto = new(new SecureRandom());

    private PskTestClient(Socket socket, DtlsTransport dtls, Client client)
    {
        Socket = socket;
        Dtls = dtls;
        CipherSuite = client.NegotiatedCipherSuite;
        EncryptThenMac = client.NegotiatedEncryptThenMac;
        IdentityHint = client.Identity.Hint;
    }

    public Socket Socket { get; }

    public DtlsTransport Dtls { get; }

    public int CipherSuite { get; }

    /// <summary>Whether encrypt-then-MAC was negotiated (CBC suites only).</summary>
    public bool EncryptThenMac { get; }

    /// <summary>The PSK identity hint the server sent (null when it sent none).</summary>
    public string? IdentityHint { get; }

    /// <param name="server">Where to connect.</param>
    /// <param name="cipherSuite">The only suite offered.</param>
    /// <param name="identity">The PSK identity.</param>
    /// <param name="key">The pre-shared key.</param>
    /// <param name="encryptThenMac">Offer encrypt-then-MAC (RFC 7366) for CBC suites, as BouncyCastle and OpenSSL do by default.</param>
    public static Task<PskTestClient> ConnectAsync(IPEndPoint server, int cipherSuite, string identity, byte[] key, bool encryptThenMac = true) =>
        Task.Factory.StartNew(() => Connect(server, [cipherSuite], identity, key, encryptThenMac), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    public static PskTestClient Connect(IPEndPoint server, int[] cipherSuites, string identity, byte[] key, bool encryptThenMac = true)
    {
        var socket = new Socket(server.AddressFamily, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Connect(server);
            var client = new Client(cipherSuites, new RecordingIdentity(identity, key), encryptThenMac);
            var dtls = new DtlsClientProtocol().Connect(client, new TestUdpTransport(socket));
            return new PskTestClient(socket, dtls, client);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    public void Send(byte[] data) => Dtls.Send(data, 0, data.Length);

    /// <summary>Application data until <paramref name="length"/> bytes arrived (records may be coalesced by the echo).</summary>
    public byte[] ReceiveExactly(int length, int timeoutMillis = 10_000)
    {
        var received = new List<byte>();
        var buffer = new byte[Dtls.GetReceiveLimit()];
        var deadline = Environment.TickCount64 + timeoutMillis;
        while (received.Count < length)
        {
            int wait = (int)Math.Max(1, deadline - Environment.TickCount64);
            int n = Dtls.Receive(buffer, 0, buffer.Length, wait);
            if (n < 0)
            {
                throw new TimeoutException($"Received {received.Count} of {length} bytes within {timeoutMillis} ms.");
            }

            received.AddRange(buffer.AsSpan(0, n));
        }

        return [.. received];
    }

    public void Close() => Dtls.Close();

    public void Dispose() => Socket.Dispose();

    private sealed class RecordingIdentity(string identity, byte[] key) : BasicTlsPskIdentity(identity, key)
    {
        public string? Hint { get; private set; }

        public override void NotifyIdentityHint(byte[] psk_identity_hint)
        {
            base.NotifyIdentityHint(psk_identity_hint);
            Hint = System.Text.Encoding.UTF8.GetString(psk_identity_hint);
        }
    }

    private sealed class Client(int[] cipherSuites, RecordingIdentity identity, bool encryptThenMac) : PskTlsClient(s_crypto, identity)
    {
        public RecordingIdentity Identity { get; } = identity;

        public int NegotiatedCipherSuite { get; private set; }

        public bool NegotiatedEncryptThenMac { get; private set; }

        public override int GetHandshakeTimeoutMillis() => 10_000;

        public override bool IgnoreCorruptDtlsRecords => true;

        protected override ProtocolVersion[] GetSupportedVersions() => ProtocolVersion.DTLSv12.Only();

        protected override int[] GetSupportedCipherSuites() => cipherSuites;

        public override IDictionary<int, byte[]> GetClientExtensions()
        {
            var extensions = base.GetClientExtensions();
            if (!encryptThenMac)
            {
                extensions.Remove(ExtensionType.encrypt_then_mac);
            }

            return extensions;
        }

        public override void NotifyHandshakeComplete()
        {
            base.NotifyHandshakeComplete();
            NegotiatedCipherSuite = m_context.SecurityParameters.CipherSuite;
            NegotiatedEncryptThenMac = m_context.SecurityParameters.IsEncryptThenMac;
        }
    }
}
