using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// AES-CCM (RFC 6655, 7251; 16- or 8-byte tag, 12-byte nonce) on the thread's EVP context of the system libcrypto for
/// the direction: nothing is allocated per record, where .NET's <see cref="AesCcm"/> creates a native context
/// (and a managed handle) for every call. Checked against <see cref="AesCcm"/> once, at first use.
/// </summary>
internal sealed unsafe class OpenSslCcmAlgorithm : OpenSslEvpAeadAlgorithm
{
    private static readonly Lazy<bool> s_supported = new(SelfTest);

    public OpenSslCcmAlgorithm(ReadOnlySpan<byte> key, int tagLength)
        : base(key, tagLength, key.Length == 32 ? OpenSslEvp.Aes256Ccm : OpenSslEvp.Aes128Ccm)
    {
    }

    /// <summary>Whether libcrypto is there and computes what .NET's AES-CCM computes.</summary>
    public static bool IsSupported => OpenSslEvp.IsAvailable && s_supported.Value;

    protected override string Name => "AES-CCM";

    protected override bool Run(nint context, EvpContextKeying keying, bool encrypt, byte* key, byte* nonce, byte* input, int inputLength, byte* output, byte* tag, byte* associatedData, int associatedDataLength)
    {
        int enc = encrypt ? 1 : 0;
        int written;

        // CCM needs its parameters, then the key and nonce, then the message length, before any data: every record
        // starts from the cipher.
        return OpenSslEvp.Init(context, Cipher, 0, null, null, enc) == 1
            && OpenSslEvp.Ctrl(context, OpenSslEvp.CtrlAeadSetIvLength, NonceLength, null) == 1
            && OpenSslEvp.Ctrl(context, OpenSslEvp.CtrlAeadSetTag, TagLength, encrypt ? null : tag) == 1
            && OpenSslEvp.Init(context, 0, 0, key, nonce, enc) == 1
            && OpenSslEvp.Update(context, null, &written, null, inputLength) == 1
            && (associatedData is null || OpenSslEvp.Update(context, null, &written, associatedData, associatedDataLength) == 1)
            && OpenSslEvp.Update(context, output, &written, input, inputLength) == 1
            && (!encrypt || (OpenSslEvp.Final(context, output + written, &written) == 1
                && OpenSslEvp.Ctrl(context, OpenSslEvp.CtrlAeadGetTag, TagLength, tag) == 1));
    }

    /// <summary>Both tag lengths against .NET's <see cref="AesCcm"/>.</summary>
    private static bool SelfTest()
    {
        if (!AesCcm.IsSupported)
        {
            return true; // nothing to compare with; libcrypto's CCM is then the only one the platform has
        }

        return AgreesWith([16], 16, key => new OpenSslCcmAlgorithm(key, 16), key => Reference(key))
            && AgreesWith([16], 8, key => new OpenSslCcmAlgorithm(key, 8), key => Reference(key));

        static AeadReference Reference(byte[] key) => (nonce, plaintext, ciphertext, tag, ad) =>
        {
            using var dotnet = new AesCcm(key);
            dotnet.Encrypt(nonce, plaintext, ciphertext, tag, ad);
        };
    }
}
