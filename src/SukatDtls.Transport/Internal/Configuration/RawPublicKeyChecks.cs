using System.Security.Cryptography;
using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The rule for a key presented as a raw public key (<see cref="DtlsTransportOptions.ServerRawPublicKey"/>,
/// <see cref="Client.DtlsClientOptions.ClientRawPublicKey"/>), shared by the server's and the client's options.
/// </summary>
internal static class RawPublicKeyChecks
{
    private static readonly Lazy<BcTlsCrypto> s_crypto = new(() => new BcTlsCrypto(new SecureRandom()));

    /// <summary>Null when the key can be presented; else the end of a sentence that starts with the option's name.</summary>
    public static string? Check(ECDsa key)
    {
        ECParameters parameters;
        try
        {
            parameters = key.ExportParameters(includePrivateParameters: false);
        }
        catch (CryptographicException ex)
        {
            return $"cannot be used: {ex.Message}";
        }

        // secp256r1: the curve of CoAP's raw public keys (RFC 7252 §9.1.3.2), the one every constrained stack has.
        var p256 = ECCurve.NamedCurves.nistP256.Oid;
        var curve = parameters.Curve.Oid;
        bool isP256 = parameters.Curve.IsNamed
            && (curve.Value == p256.Value || (curve.Value is null && curve.FriendlyName == p256.FriendlyName));
        if (!isP256)
        {
            return "is not on the P-256 curve (secp256r1), the curve of CoAP's raw public keys (RFC 7252 §9.1.3.2); make it with ECDsa.Create(ECCurve.NamedCurves.nistP256).";
        }

        try
        {
            // What the handshake will do with it: export the private key for BouncyCastle's and the platform's signers.
            _ = CertificateCredentials.CreateRawPublicKey(s_crypto.Value, key);
            return null;
        }
        catch (Exception ex) when (ex is InvalidOperationException or CryptographicException or ArgumentException)
        {
            return $"cannot be used (it needs its private key, exportable): {ex.Message}";
        }
    }
}
