using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// A ClientHello whose cookie checked out (<see cref="CookieVerifier"/>): the peer proved its address. BouncyCastle's
/// handshake needs the request its verifier makes, which parses the ClientHello again; the transport's own handshake
/// does not, so the request is made only when BouncyCastle's handshake runs (<see cref="CreateRequest"/>).
/// </summary>
/// <param name="key">The key whose cookie the ClientHello returned.</param>
/// <param name="clientId">The client's address as the cookie binds it.</param>
/// <param name="datagram">The ClientHello's datagram (a copy: the listener's buffer is reused).</param>
internal sealed class VerifiedClientHello(CookieKey key, byte[] clientId, byte[] datagram)
{
    /// <summary>The ClientHello as it came: one record holding the whole message (reassembled if it came in fragments).</summary>
    public ReadOnlyMemory<byte> Datagram => datagram;

    /// <summary>BouncyCastle's request, from the verifier of the key whose cookie the ClientHello returned.</summary>
    /// <exception cref="InvalidOperationException">BouncyCastle's verifier refused what ours accepted (a defect).</exception>
    public DtlsRequest CreateRequest() =>
        key.Verifier.VerifyRequest(clientId, datagram, 0, datagram.Length, NoHelloVerifyRequest.Instance)
        ?? throw new InvalidOperationException("BouncyCastle's cookie check refused a ClientHello the transport's accepted.");

    /// <summary>A verified ClientHello gets no HelloVerifyRequest: nothing is sent.</summary>
    private sealed class NoHelloVerifyRequest : DatagramSender
    {
        public static readonly NoHelloVerifyRequest Instance = new();

        public int GetSendLimit() => 1500;

        public void Send(byte[] buf, int off, int len)
        {
        }

        public void Send(ReadOnlySpan<byte> buffer)
        {
        }
    }
}
