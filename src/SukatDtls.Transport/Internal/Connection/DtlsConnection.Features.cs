using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Connections.Features;
using SukatDtls.Transport.Features;

namespace SukatDtls.Transport.Internal;

/// <summary>The socket, TLS handshake and DTLS session features.</summary>
internal sealed partial class DtlsConnection : IConnectionSocketFeature, ITlsHandshakeFeature, IDtlsSessionFeature
{
    // IConnectionSocketFeature: the peer's own connected socket (diagnostics, socket options).
    Socket IConnectionSocketFeature.Socket => Volatile.Read(ref _socket);

    // ITlsHandshakeFeature: DTLS 1.2 is TLS 1.2 on datagrams; IDtlsSessionFeature names the DTLS version exactly.
    SslProtocols ITlsHandshakeFeature.Protocol => SslProtocols.Tls12;

    System.Net.Security.TlsCipherSuite? ITlsHandshakeFeature.NegotiatedCipherSuite =>
        _handshake is { } handshake ? (System.Net.Security.TlsCipherSuite)handshake.CipherSuite : null;

#pragma warning disable SYSLIB0058 // The legacy algorithm properties are obsolete; NegotiatedCipherSuite is their replacement.
    CipherAlgorithmType ITlsHandshakeFeature.CipherAlgorithm => CipherAlgorithmType.None;

    int ITlsHandshakeFeature.CipherStrength => 0;

    HashAlgorithmType ITlsHandshakeFeature.HashAlgorithm => HashAlgorithmType.None;

    int ITlsHandshakeFeature.HashStrength => 0;

    ExchangeAlgorithmType ITlsHandshakeFeature.KeyExchangeAlgorithm => ExchangeAlgorithmType.None;

    int ITlsHandshakeFeature.KeyExchangeStrength => 0;
#pragma warning restore SYSLIB0058

    string IDtlsSessionFeature.ProtocolVersion => "DTLS 1.2";

    int IDtlsSessionFeature.CipherSuite => _handshake?.CipherSuite ?? 0;

    string IDtlsSessionFeature.CipherSuiteName => _handshake?.CipherSuiteName ?? "";

    X509Certificate2? IDtlsSessionFeature.PeerCertificate => _handshake?.PeerCertificate;

    TimeSpan IDtlsSessionFeature.HandshakeDuration => _handshake?.Duration ?? TimeSpan.Zero;

    bool IDtlsSessionFeature.IsResumed => _handshake?.IsResumed ?? false;

    string? IDtlsSessionFeature.PskIdentity => _handshake?.PskIdentity;

    ReadOnlyMemory<byte> IDtlsSessionFeature.LocalConnectionId => Records?.ReadConnectionIdMemory ?? ReadOnlyMemory<byte>.Empty;

    ReadOnlyMemory<byte> IDtlsSessionFeature.PeerConnectionId => Records?.WriteConnectionIdMemory ?? ReadOnlyMemory<byte>.Empty;

    DtlsPeerAuthentication IDtlsSessionFeature.PeerAuthentication => _handshake?.PeerAuthentication ?? DtlsPeerAuthentication.None;

    ReadOnlyMemory<byte> IDtlsSessionFeature.PeerRawPublicKey => _handshake?.PeerRawPublicKey;

    Client.DtlsResumableSession? IDtlsSessionFeature.ResumableSession => _handshake?.ResumableSession;
}
