using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>An EVP_CIPHER_CTX of the system libcrypto, owned by managed code (freed when disposed or finalized).</summary>
internal sealed unsafe class OpenSslCipherContext : SafeHandle
{
    public OpenSslCipherContext()
        : base(0, ownsHandle: true)
    {
        SetHandle(OpenSslEvp.NewContext());
        if (IsInvalid)
        {
            throw new System.Security.Cryptography.CryptographicException("libcrypto's EVP_CIPHER_CTX_new failed.");
        }
    }

    public override bool IsInvalid => handle == 0;

    protected override bool ReleaseHandle()
    {
        OpenSslEvp.FreeContext(handle);
        return true;
    }
}
