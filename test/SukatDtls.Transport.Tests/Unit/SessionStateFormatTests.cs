using System.Security.Cryptography.X509Certificates;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal;
using SukatDtls.Transport.Tests.Infrastructure;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>
/// The stored form of a session: everything a resumption needs comes back (suite, version, extended master secret,
/// master secret, PSK identity, the peer's chain, the server's extensions), the session it was taken from keeps its
/// secret, and bytes that are not a whole session of our format are refused.
/// </summary>
public sealed class SessionStateFormatTests
{
    private static readonly BcTlsCrypto s_crypto = new BcTlsCrypto(new SecureRandom());
    private static readonly byte[] s_sessionId = Enumerable.Range(1, 32).Select(i => (byte)i).ToArray();
    private static readonly byte[] s_masterSecret = Enumerable.Range(100, 48).Select(i => (byte)i).ToArray();

    [Fact]
    public void A_session_comes_back_with_everything_a_resumption_needs()
    {
        var created = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_123);
        var state = new DtlsSessionState(Session(psk: true, peer: true), created);

        byte[] stored = SessionStateFormat.Write(state, s_crypto)!;
        var read = SessionStateFormat.Read(stored, s_sessionId, s_crypto)!;

        Assert.Equal(created, read.Created);
        Assert.Equal(s_sessionId, read.Session.SessionID);
        Assert.True(read.Session.IsResumable);
        var parameters = read.Session.ExportSessionParameters();
        Assert.Equal(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256, parameters.CipherSuite);
        Assert.Equal(ProtocolVersion.DTLSv12, parameters.NegotiatedVersion);
        Assert.True(parameters.IsExtendedMasterSecret);
        Assert.Equal(s_masterSecret, s_crypto.AdoptSecret(parameters.MasterSecret).Extract());
        Assert.Equal("device-1"u8.ToArray(), parameters.PskIdentity);
        Assert.Equal(2, parameters.PeerCertificate.Length);
        Assert.Equal(ClientCertificateDer(), parameters.PeerCertificate.GetCertificateAt(0).GetEncoded());
        var extensions = parameters.ReadServerExtensions();
        Assert.Equal([1, 22, 23], extensions.Keys.Order()); // not connection_id: a resumption negotiates a new one
        Assert.Equal([2], extensions[1]);
        Assert.Empty(extensions[22]);
    }

    [Fact]
    public void A_session_without_identity_or_peer_certificate_comes_back_without_them()
    {
        var state = new DtlsSessionState(Session(psk: false, peer: false, emsAndExtensions: false), DateTimeOffset.UnixEpoch);

        var parameters = SessionStateFormat.Read(SessionStateFormat.Write(state, s_crypto)!, s_sessionId, s_crypto)!.Session.ExportSessionParameters();

        Assert.Null(parameters.PskIdentity);
        Assert.Null(parameters.PeerCertificate);
        Assert.False(parameters.IsExtendedMasterSecret);
        Assert.Null(parameters.ReadServerExtensions());
    }

    // A client that authenticated with a raw public key (RFC 7250) resumes on another node as one: the stored
    // certificate keeps its type, and the key comes back as the same SubjectPublicKeyInfo.
    [Fact]
    public void A_raw_public_key_peer_comes_back_as_a_raw_public_key()
    {
        using var key = TestRawPublicKeys.ClientKey();
        byte[] spki = key.ExportSubjectPublicKeyInfo();
        var builder = new SessionParameters.Builder()
            .SetCipherSuite(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8)
            .SetNegotiatedVersion(ProtocolVersion.DTLSv12)
            .SetMasterSecret(s_crypto.CreateSecret(s_masterSecret))
            .SetPeerCertificate(new Certificate(CertificateType.RawPublicKey, null,
                [new CertificateEntry(s_crypto.CreateCertificate(CertificateType.RawPublicKey, spki), null)]));
        var state = new DtlsSessionState(TlsUtilities.ImportSession(s_sessionId, builder.Build()), DateTimeOffset.UnixEpoch);

        var peer = SessionStateFormat.Read(SessionStateFormat.Write(state, s_crypto)!, s_sessionId, s_crypto)!.Session.ExportSessionParameters().PeerCertificate;

        Assert.Equal(CertificateType.RawPublicKey, peer.CertificateType);
        Assert.Equal(spki, Assert.Single(peer.GetCertificateList()).GetEncoded());
    }

    [Fact]
    public void Writing_a_session_leaves_its_own_master_secret_alive()
    {
        // TlsSecret.Extract destroys the secret it is called on: the writer must extract from a copy, or the session
        // could no longer be resumed from the memory cache (or by the node that made it).
        var session = Session(psk: false, peer: false);
        SessionStateFormat.Write(new DtlsSessionState(session, DateTimeOffset.UnixEpoch), s_crypto);

        var secret = session.ExportSessionParameters().MasterSecret;
        Assert.True(secret.IsAlive());
        Assert.Equal(s_masterSecret, s_crypto.AdoptSecret(secret).Extract());
    }

    [Fact]
    public void Every_truncation_and_an_unknown_format_are_refused()
    {
        byte[] stored = SessionStateFormat.Write(new DtlsSessionState(Session(psk: true, peer: true), DateTimeOffset.UnixEpoch), s_crypto)!;
        for (int length = 0; length < stored.Length; length++)
        {
            Assert.Null(SessionStateFormat.Read(stored.AsSpan(0, length), s_sessionId, s_crypto));
        }

        Assert.Null(SessionStateFormat.Read([.. stored, 0], s_sessionId, s_crypto));
        stored[0] = 2;
        Assert.Null(SessionStateFormat.Read(stored, s_sessionId, s_crypto));
    }

    private static TlsSession Session(bool psk, bool peer, bool emsAndExtensions = true)
    {
        var builder = new SessionParameters.Builder()
            .SetCipherSuite(CipherSuite.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)
            .SetNegotiatedVersion(ProtocolVersion.DTLSv12)
            .SetExtendedMasterSecret(emsAndExtensions)
            .SetMasterSecret(s_crypto.CreateSecret(s_masterSecret));
        if (psk)
        {
            builder.SetPskIdentity("device-1"u8.ToArray());
        }

        if (peer)
        {
            byte[] ca = X509CertificateLoader.LoadCertificateFromFile(TestCertificates.CaPem).RawData;
            builder.SetPeerCertificate(new Certificate([s_crypto.CreateCertificate(ClientCertificateDer()), s_crypto.CreateCertificate(ca)]));
        }

        if (emsAndExtensions)
        {
            builder.SetServerExtensions(new Dictionary<int, byte[]>
            {
                [ExtensionType.max_fragment_length] = [2],
                [ExtensionType.encrypt_then_mac] = [],
                [ExtensionType.extended_master_secret] = [],
                [ExtensionType.connection_id] = [8, 1, 2, 3, 4, 5, 6, 7, 8],
            });
        }

        return TlsUtilities.ImportSession(s_sessionId, builder.Build());
    }

    private static byte[] ClientCertificateDer() => X509CertificateLoader.LoadCertificateFromFile(TestCertificates.ClientPem).RawData;
}
