using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The system libcrypto's EVP symmetric-cipher API (OpenSSL 1.1.1 and 3.x), loaded by name through function pointers,
/// for the record ciphers .NET can only give per call with a fresh native context and an allocation (AES-CCM, and
/// AES-CBC through <c>Aes.EncryptCbc</c>), and AES-GCM and ChaCha20-Poly1305 with less work per call than .NET's: a few contexts per thread and direction here
/// (<see cref="OpenSslThreadCipherContexts"/>), nothing allocated per record.
/// </summary>
/// <remarks>
/// Loaded once; when anything is missing (Windows, macOS without OpenSSL, an old library) <see cref="IsAvailable"/> is
/// false and the callers use .NET's ciphers. Each cipher built on it checks itself against .NET's at first use
/// (<see cref="OpenSslCcmAlgorithm.IsSupported"/>, <see cref="OpenSslCbcCipher.IsSupported"/>).
/// </remarks>
internal static unsafe class OpenSslEvp
{
    public const int CtrlAeadSetIvLength = 0x9;
    public const int CtrlAeadGetTag = 0x10;
    public const int CtrlAeadSetTag = 0x11;

#pragma warning disable CA1810 // The entry points are resolved together, once.
    static OpenSslEvp()
#pragma warning restore CA1810
    {
        foreach (var (name, library) in LibCrypto.Candidates())
        {
            if (Get(library, "EVP_CIPHER_CTX_new", out var newContext)
                && Get(library, "EVP_CIPHER_CTX_free", out var freeContext)
                && Get(library, "EVP_CipherInit_ex", out var init)
                && Get(library, "EVP_CIPHER_CTX_ctrl", out var ctrl)
                && Get(library, "EVP_CipherUpdate", out var update)
                && Get(library, "EVP_CipherFinal_ex", out var final)
                && Get(library, "EVP_CIPHER_CTX_set_padding", out var setPadding)
                && Get(library, "EVP_aes_128_ccm", out var aes128Ccm)
                && Get(library, "EVP_aes_256_ccm", out var aes256Ccm)
                && Get(library, "EVP_aes_128_cbc", out var aes128Cbc)
                && Get(library, "EVP_aes_256_cbc", out var aes256Cbc)
                && Get(library, "ERR_clear_error", out var clearErrors))
            {
                NewContext = (delegate* unmanaged<nint>)newContext;
                FreeContext = (delegate* unmanaged<nint, void>)freeContext;
                Init = (delegate* unmanaged<nint, nint, nint, byte*, byte*, int, int>)init;
                Ctrl = (delegate* unmanaged<nint, int, int, byte*, int>)ctrl;
                Update = (delegate* unmanaged<nint, byte*, int*, byte*, int, int>)update;
                Final = (delegate* unmanaged<nint, byte*, int*, int>)final;
                SetPadding = (delegate* unmanaged<nint, int, int>)setPadding;
                Aes128Ccm = ((delegate* unmanaged<nint>)aes128Ccm)();
                Aes256Ccm = ((delegate* unmanaged<nint>)aes256Ccm)();
                Aes128Cbc = ((delegate* unmanaged<nint>)aes128Cbc)();
                Aes256Cbc = ((delegate* unmanaged<nint>)aes256Cbc)();
                if (Get(library, "EVP_aes_128_gcm", out var aes128Gcm) && Get(library, "EVP_aes_256_gcm", out var aes256Gcm))
                {
                    Aes128Gcm = ((delegate* unmanaged<nint>)aes128Gcm)();
                    Aes256Gcm = ((delegate* unmanaged<nint>)aes256Gcm)();
                }

                if (Get(library, "EVP_chacha20_poly1305", out var chaCha20Poly1305))
                {
                    ChaCha20Poly1305 = ((delegate* unmanaged<nint>)chaCha20Poly1305)();
                }

                ClearErrors = (delegate* unmanaged<void>)clearErrors;
                IsAvailable = Aes128Ccm != 0 && Aes256Ccm != 0 && Aes128Cbc != 0 && Aes256Cbc != 0;
                LibraryName = name;
                return;
            }
        }
    }

    public static bool IsAvailable { get; }

    public static string? LibraryName { get; }

    public static delegate* unmanaged<nint> NewContext { get; }

    public static delegate* unmanaged<nint, void> FreeContext { get; }

    /// <summary>EVP_CipherInit_ex(ctx, cipher, engine, key, iv, enc): 1 on success.</summary>
    public static delegate* unmanaged<nint, nint, nint, byte*, byte*, int, int> Init { get; }

    /// <summary>EVP_CIPHER_CTX_ctrl(ctx, type, arg, ptr): 1 on success.</summary>
    public static delegate* unmanaged<nint, int, int, byte*, int> Ctrl { get; }

    /// <summary>EVP_CipherUpdate(ctx, out, outl, in, inl): 1 on success (for CCM decryption: the tag matched).</summary>
    public static delegate* unmanaged<nint, byte*, int*, byte*, int, int> Update { get; }

    /// <summary>EVP_CipherFinal_ex(ctx, out, outl): 1 on success.</summary>
    public static delegate* unmanaged<nint, byte*, int*, int> Final { get; }

    public static delegate* unmanaged<nint, int, int> SetPadding { get; }

    public static nint Aes128Ccm { get; }

    public static nint Aes256Ccm { get; }

    /// <summary>EVP_aes_128_gcm(), or 0 where the library lacks it.</summary>
    public static nint Aes128Gcm { get; }

    /// <summary>EVP_aes_256_gcm(), or 0 where the library lacks it.</summary>
    public static nint Aes256Gcm { get; }

    /// <summary>EVP_chacha20_poly1305(), or 0 where the library lacks it.</summary>
    public static nint ChaCha20Poly1305 { get; }

    public static nint Aes128Cbc { get; }

    public static nint Aes256Cbc { get; }

    /// <summary>Leaves no error on this thread's OpenSSL error queue for the next user of libcrypto (.NET among them).</summary>
    public static delegate* unmanaged<void> ClearErrors { get; }

    private static bool Get(nint library, string name, out nint export) => NativeLibrary.TryGetExport(library, name, out export);
}
