using System.Security.Cryptography.X509Certificates;

namespace SukatDtls.Transport;

/// <summary>Options of the DTLS server transport, configured by <c>UseDtls(options =&gt; …)</c>.</summary>
public sealed class DtlsTransportOptions
{
    /// <summary>
    /// The server certificate with its private key (ECDSA or RSA), e.g.
    /// <c>X509Certificate2.CreateFromPemFile("server.pem", "server.key")</c>. Required.
    /// Only cipher suites that fit its key are offered: ECDHE-ECDSA for an ECDSA key, ECDHE-RSA for an RSA key.
    /// </summary>
    public X509Certificate2? ServerCertificate { get; set; }

    /// <summary>
    /// Intermediate certificates sent after <see cref="ServerCertificate"/>, leaf-first order not required.
    /// Certificates equal to the server certificate itself and self-signed roots are left out.
    /// </summary>
    public X509Certificate2Collection? ServerCertificateChain { get; set; }

    /// <summary>How long a handshake may take from the verified ClientHello to the Finished message. Default 10 s.</summary>
    public TimeSpan HandshakeTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An established connection that receives no datagram for this long is closed (UDP has no FIN).
    /// Default 60 s; <see cref="Timeout.InfiniteTimeSpan"/> disables it.
    /// </summary>
    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>
    /// How many handshakes run at once, each on a dedicated handshake thread (BouncyCastle's handshake API blocks).
    /// Default 32.
    /// </summary>
    public int MaxConcurrentHandshakes { get; set; } = 32;

    /// <summary>
    /// How many verified peers may wait for a free handshake thread. Beyond <see cref="MaxConcurrentHandshakes"/>
    /// plus this, a new peer gets no answer (its ClientHello retransmission retries later). Default 256.
    /// </summary>
    public int HandshakeQueueLength { get; set; } = 256;

    /// <summary>
    /// How many established connections may wait for Kestrel to accept them; beyond it new connections are refused.
    /// Default 512.
    /// </summary>
    public int AcceptQueueLength { get; set; } = 512;

    /// <summary>
    /// How often the HMAC key of the stateless cookie is replaced. A cookie made with the previous key is still
    /// accepted, so a cookie lives between one and two periods. Default 60 s.
    /// </summary>
    public TimeSpan CookieKeyRotationInterval { get; set; } = TimeSpan.FromSeconds(60);

    internal void Validate()
    {
        if (ServerCertificate is null)
        {
            throw new InvalidOperationException(
                $"{nameof(DtlsTransportOptions)}.{nameof(ServerCertificate)} is not set: a DTLS server needs a certificate with a private key.");
        }

        if (!ServerCertificate.HasPrivateKey)
        {
            throw new InvalidOperationException(
                $"{nameof(DtlsTransportOptions)}.{nameof(ServerCertificate)} ('{ServerCertificate.Subject}') has no private key.");
        }

        RequirePositive(HandshakeTimeout, nameof(HandshakeTimeout));
        if (IdleTimeout != Timeout.InfiniteTimeSpan)
        {
            RequirePositive(IdleTimeout, nameof(IdleTimeout));
        }

        RequirePositive(CookieKeyRotationInterval, nameof(CookieKeyRotationInterval));
        RequirePositive(MaxConcurrentHandshakes, nameof(MaxConcurrentHandshakes));
        RequireNotNegative(HandshakeQueueLength, nameof(HandshakeQueueLength));
        RequirePositive(AcceptQueueLength, nameof(AcceptQueueLength));
    }

    private static void RequirePositive(TimeSpan value, string name)
    {
        if (value <= TimeSpan.Zero || value.TotalMilliseconds > int.MaxValue)
        {
            throw new InvalidOperationException($"{nameof(DtlsTransportOptions)}.{name} must be positive and at most {int.MaxValue} ms; it is {value}.");
        }
    }

    private static void RequirePositive(int value, string name)
    {
        if (value <= 0)
        {
            throw new InvalidOperationException($"{nameof(DtlsTransportOptions)}.{name} must be positive; it is {value}.");
        }
    }

    private static void RequireNotNegative(int value, string name)
    {
        if (value < 0)
        {
            throw new InvalidOperationException($"{nameof(DtlsTransportOptions)}.{name} must not be negative; it is {value}.");
        }
    }
}
