using Org.BouncyCastle.Security;
using Org.BouncyCastle.Tls;
using Org.BouncyCastle.Tls.Crypto;
using Org.BouncyCastle.Tls.Crypto.Impl.BC;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// BouncyCastle's crypto for the server, with one change: in a PSK handshake, a client Finished message that fails
/// authentication ends the handshake at once with decrypt_error, the alert RFC 4279 §2 gives for a wrong key.
/// </summary>
/// <remarks>
/// BouncyCastle 2.7 silently discards every record that fails authentication, also during the handshake. With a
/// certificate suite that only happens to forged or damaged records. With a pre-shared key it is what a client with
/// the wrong key looks like: its Finished never decrypts, and both sides would wait for the whole handshake timeout
/// with nothing to tell the operator or the client why. Only an epoch-1 handshake record that fails before any record
/// of the epoch succeeded counts (that is the client's Finished); after the handshake, failed records are discarded
/// silently as before (RFC 6347 §4.1.2.7).
/// </remarks>
internal sealed class DtlsServerCrypto(SecureRandom random) : PlatformTlsCrypto(random)
{
    public override TlsCipher CreateCipher(TlsCryptoParameters cryptoParams, int encryptionAlgorithm, int macAlgorithm)
    {
        var cipher = base.CreateCipher(cryptoParams, encryptionAlgorithm, macAlgorithm);
        return cryptoParams.IsServer && PskCipherSuites.IsPskKeyExchange(cryptoParams.SecurityParameters.KeyExchangeAlgorithm)
            ? new PskFinishedCheckingCipher(cipher)
            : cipher;
    }

    /// <summary>Passes everything through; turns the first failed handshake record into decrypt_error.</summary>
    private sealed class PskFinishedCheckingCipher(TlsCipher inner) : TlsCipher
    {
        private volatile bool _authenticated;

        public bool UsesOpaqueRecordType => inner.UsesOpaqueRecordType;

        public TlsDecodeResult DecodeCiphertext(long seqNo, short recordType, ProtocolVersion recordVersion, byte[] ciphertext, int offset, int len)
        {
            if (_authenticated)
            {
                return inner.DecodeCiphertext(seqNo, recordType, recordVersion, ciphertext, offset, len);
            }

            try
            {
                var decoded = inner.DecodeCiphertext(seqNo, recordType, recordVersion, ciphertext, offset, len);
                _authenticated = true;
                return decoded;
            }
            catch (TlsFatalAlert alert) when (alert.AlertDescription == AlertDescription.bad_record_mac && recordType == ContentType.handshake)
            {
                throw new TlsFatalAlert(AlertDescription.decrypt_error,
                    "the client's Finished message failed authentication: its pre-shared key is not the key store's", alert);
            }
        }

        public TlsEncodeResult EncodePlaintext(long seqNo, short contentType, ProtocolVersion recordVersion, int headerAllocation, byte[] plaintext, int offset, int len) =>
            inner.EncodePlaintext(seqNo, contentType, recordVersion, headerAllocation, plaintext, offset, len);

        public TlsEncodeResult EncodePlaintext(long seqNo, short contentType, ProtocolVersion recordVersion, int headerAllocation, ReadOnlySpan<byte> plaintext) =>
            inner.EncodePlaintext(seqNo, contentType, recordVersion, headerAllocation, plaintext);

        public int GetCiphertextDecodeLimit(int plaintextLimit) => inner.GetCiphertextDecodeLimit(plaintextLimit);

        public int GetCiphertextEncodeLimit(int plaintextLength, int plaintextLimit) => inner.GetCiphertextEncodeLimit(plaintextLength, plaintextLimit);

        public int GetPlaintextLimit(int ciphertextLimit) => inner.GetPlaintextLimit(ciphertextLimit);

        public void RekeyDecoder() => inner.RekeyDecoder();

        public void RekeyEncoder() => inner.RekeyEncoder();
    }
}
