using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// X25519 (RFC 7748) computed by the system's OpenSSL libcrypto — the library .NET's own cryptography uses on Linux —
/// through its EVP_PKEY raw-key API (OpenSSL 1.1.1 and 3.x). .NET has no public X25519 API, and BouncyCastle's managed
/// X25519 was the largest single cost of a full handshake (figures in docs/benchmarks.md).
/// </summary>
/// <remarks>
/// Loaded once, by name, with every entry point checked and an RFC 7748 §6.1 test vector verified; when anything is
/// missing or wrong (Windows, macOS, no OpenSSL) <see cref="IsAvailable"/> is false and BouncyCastle's X25519 is used.
/// Keys live in native EVP_PKEY objects owned by <see cref="KeyHandle"/>; secrets copied to managed memory are zeroed
/// by the callers after use.
/// <para>
/// On OpenSSL 3 keys are imported with <c>EVP_PKEY_fromdata</c> on a context made once per thread
/// (<see cref="KeyImport"/>), not with <c>EVP_PKEY_new_raw_*_key</c>: OpenSSL 3.0 makes a new context inside each of
/// those, and every new context walks all of libcrypto's algorithm names to find the key type's legacy number (about
/// 2.3 µs each here, two of them per handshake; docs/benchmarks.md). The derivation still needs a context per private
/// key. Both ways are checked against RFC 7748's test vector; the raw-key way is used where the other is missing or fails.
/// </para>
/// </remarks>
internal static unsafe class OpenSslX25519
{
    public const int KeySize = 32;

    // NID_X25519 == EVP_PKEY_X25519 in OpenSSL 1.1.1 and 3.x.
    private const int EvpPkeyX25519 = 1034;

    private static readonly delegate* unmanaged<int, nint, byte*, nuint, nint> s_newRawPrivateKey;
    private static readonly delegate* unmanaged<int, nint, byte*, nuint, nint> s_newRawPublicKey;
    private static readonly delegate* unmanaged<nint, byte*, nuint*, int> s_getRawPublicKey;
    private static readonly delegate* unmanaged<nint, void> s_freeKey;
    private static readonly delegate* unmanaged<nint, nint, nint> s_newContext;
    private static readonly delegate* unmanaged<nint, void> s_freeContext;
    private static readonly delegate* unmanaged<nint, int> s_deriveInit;
    private static readonly delegate* unmanaged<nint, nint, int> s_deriveSetPeer;
    private static readonly delegate* unmanaged<nint, byte*, nuint*, int> s_derive;
    private static readonly delegate* unmanaged<void> s_clearErrors;

    // OpenSSL 3 only: key import on a context kept per thread.
    private static readonly delegate* unmanaged<nint, byte*, byte*, nint> s_newContextFromName;
    private static readonly delegate* unmanaged<nint, int> s_fromDataInit;
    private static readonly delegate* unmanaged<nint, nint*, int, OsslParam*, int> s_fromData;

    // EVP_PKEY_PUBLIC_KEY and EVP_PKEY_KEYPAIR: OSSL_KEYMGMT_SELECT_ALL_PARAMETERS (0x84) with the public key (0x02), and
    // with the private key (0x01) too.
    private const int SelectPublicKey = 0x86;
    private const int SelectKeyPair = 0x87;

    // OSSL_PARAM_OCTET_STRING; OSSL_PARAM_UNMODIFIED is (size_t)-1.
    private const uint OsslParamOctetString = 5;

    private static bool s_canImportOnThreadContext;
    private static bool s_importsOnThreadContext;

    [ThreadStatic]
    private static KeyImport? t_keyImport;

#pragma warning disable CA1810 // The loading and the self-test must run in this order, once.
    static OpenSslX25519()
#pragma warning restore CA1810
    {
        foreach (var (name, library) in LibCrypto.Candidates())
        {
            if (TryGet(library, "EVP_PKEY_new_raw_private_key", out nint newRawPrivateKey)
                && TryGet(library, "EVP_PKEY_new_raw_public_key", out nint newRawPublicKey)
                && TryGet(library, "EVP_PKEY_get_raw_public_key", out nint getRawPublicKey)
                && TryGet(library, "EVP_PKEY_free", out nint freeKey)
                && TryGet(library, "EVP_PKEY_CTX_new", out nint newContext)
                && TryGet(library, "EVP_PKEY_CTX_free", out nint freeContext)
                && TryGet(library, "EVP_PKEY_derive_init", out nint deriveInit)
                && TryGet(library, "EVP_PKEY_derive_set_peer", out nint deriveSetPeer)
                && TryGet(library, "EVP_PKEY_derive", out nint derive)
                && TryGet(library, "ERR_clear_error", out nint clearErrors))
            {
                s_newRawPrivateKey = (delegate* unmanaged<int, nint, byte*, nuint, nint>)newRawPrivateKey;
                s_newRawPublicKey = (delegate* unmanaged<int, nint, byte*, nuint, nint>)newRawPublicKey;
                s_getRawPublicKey = (delegate* unmanaged<nint, byte*, nuint*, int>)getRawPublicKey;
                s_freeKey = (delegate* unmanaged<nint, void>)freeKey;
                s_newContext = (delegate* unmanaged<nint, nint, nint>)newContext;
                s_freeContext = (delegate* unmanaged<nint, void>)freeContext;
                s_deriveInit = (delegate* unmanaged<nint, int>)deriveInit;
                s_deriveSetPeer = (delegate* unmanaged<nint, nint, int>)deriveSetPeer;
                s_derive = (delegate* unmanaged<nint, byte*, nuint*, int>)derive;
                s_clearErrors = (delegate* unmanaged<void>)clearErrors;
                IsAvailable = PassesSelfTest();
                if (IsAvailable)
                {
                    LibraryName = name;
                    if (TryGet(library, "EVP_PKEY_CTX_new_from_name", out nint newContextFromName)
                        && TryGet(library, "EVP_PKEY_fromdata_init", out nint fromDataInit)
                        && TryGet(library, "EVP_PKEY_fromdata", out nint fromData))
                    {
                        s_newContextFromName = (delegate* unmanaged<nint, byte*, byte*, nint>)newContextFromName;
                        s_fromDataInit = (delegate* unmanaged<nint, int>)fromDataInit;
                        s_fromData = (delegate* unmanaged<nint, nint*, int, OsslParam*, int>)fromData;
                        s_canImportOnThreadContext = true;
                        ImportsOnThreadContext = true;
                        s_canImportOnThreadContext = PassesSelfTest();
                        ImportsOnThreadContext = s_canImportOnThreadContext;
                    }

                    return;
                }
            }
        }
    }

    /// <summary>True when the platform's libcrypto computes X25519 correctly (checked with RFC 7748's test vector).</summary>
    public static bool IsAvailable { get; }

    /// <summary>The library that was loaded, for diagnostics.</summary>
    public static string? LibraryName { get; }

    /// <summary>
    /// True when keys are imported on a context kept per thread (OpenSSL 3, checked with RFC 7748's test vector); else
    /// with <c>EVP_PKEY_new_raw_*_key</c>. Tests and the micro-benchmark set it to compare both ways; it never becomes
    /// true where the context way is missing or failed its check.
    /// </summary>
    public static bool ImportsOnThreadContext
    {
        get => s_importsOnThreadContext;
        internal set => s_importsOnThreadContext = value && s_canImportOnThreadContext;
    }

    /// <summary>Makes a key from a private scalar (OpenSSL clamps it) and writes its public value.</summary>
    public static KeyHandle CreatePrivateKey(ReadOnlySpan<byte> privateKey, Span<byte> publicKey)
    {
        if (privateKey.Length != KeySize || publicKey.Length != KeySize)
        {
            throw new ArgumentException("X25519 keys are 32 bytes.");
        }

        var key = new KeyHandle();
        fixed (byte* privatePointer = privateKey)
        fixed (byte* publicPointer = publicKey)
        {
            key.SetHandle(ImportsOnThreadContext
                ? Import("priv\0"u8, privatePointer, SelectKeyPair)
                : s_newRawPrivateKey(EvpPkeyX25519, 0, privatePointer, KeySize));
            if (key.IsInvalid)
            {
                throw Failure(ImportsOnThreadContext ? "EVP_PKEY_fromdata" : "EVP_PKEY_new_raw_private_key");
            }

            nuint length = KeySize;
            if (s_getRawPublicKey(key.DangerousGetHandle(), publicPointer, &length) != 1 || length != KeySize)
            {
                key.Dispose();
                throw Failure("EVP_PKEY_get_raw_public_key");
            }
        }

        return key;
    }

    /// <summary>
    /// The shared secret of <paramref name="privateKey"/> and the peer's public value; false when the peer's value is
    /// a small-order point (the result would be all zeros, which OpenSSL refuses, RFC 7748 §6.1).
    /// </summary>
    public static bool TryDerive(KeyHandle privateKey, ReadOnlySpan<byte> peerPublicKey, Span<byte> sharedSecret)
    {
        if (peerPublicKey.Length != KeySize || sharedSecret.Length != KeySize)
        {
            return false;
        }

        nint peer = 0;
        nint context = 0;
        bool added = false;
        try
        {
            privateKey.DangerousAddRef(ref added);
            fixed (byte* peerPointer = peerPublicKey)
            fixed (byte* secretPointer = sharedSecret)
            {
                peer = ImportsOnThreadContext
                    ? Import("pub\0"u8, peerPointer, SelectPublicKey)
                    : s_newRawPublicKey(EvpPkeyX25519, 0, peerPointer, KeySize);
                context = peer == 0 ? 0 : s_newContext(privateKey.DangerousGetHandle(), 0);
                nuint length = KeySize;
                bool derived = context != 0
                    && s_deriveInit(context) == 1
                    && s_deriveSetPeer(context, peer) == 1
                    && s_derive(context, secretPointer, &length) == 1
                    && length == KeySize;
                if (!derived)
                {
                    // Leave no error on this thread's OpenSSL error queue for the next user of libcrypto.
                    s_clearErrors();
                    sharedSecret.Clear();
                }

                return derived;
            }
        }
        finally
        {
            if (context != 0)
            {
                s_freeContext(context);
            }

            if (peer != 0)
            {
                s_freeKey(peer);
            }

            if (added)
            {
                privateKey.DangerousRelease();
            }
        }
    }

    /// <summary>A new EVP_PKEY from 32 bytes as the parameter <paramref name="name"/>; 0 when libcrypto refuses.</summary>
    private static nint Import(ReadOnlySpan<byte> name, byte* value, int selection)
    {
        nint context = (t_keyImport ??= new KeyImport()).Context;
        if (context == 0)
        {
            return 0;
        }

        fixed (byte* namePointer = name)
        {
            OsslParam* parameters = stackalloc OsslParam[2];
            parameters[0] = new OsslParam { Key = namePointer, DataType = OsslParamOctetString, Data = value, DataSize = KeySize, ReturnSize = nuint.MaxValue };
            parameters[1] = default;
            nint key = 0;
            return s_fromData(context, &key, selection, parameters) == 1 ? key : 0;
        }
    }

    private static bool TryGet(nint library, string name, out nint export) => NativeLibrary.TryGetExport(library, name, out export);

    private static CryptographicException Failure(string function)
    {
        s_clearErrors();
        return new CryptographicException($"libcrypto's {function} failed.");
    }

    private static bool PassesSelfTest()
    {
        // RFC 7748 §6.1: Alice's private key and Bob's public key give the shared secret K.
        ReadOnlySpan<byte> alicePrivate = Convert.FromHexString("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
        ReadOnlySpan<byte> alicePublic = Convert.FromHexString("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
        ReadOnlySpan<byte> bobPublic = Convert.FromHexString("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
        ReadOnlySpan<byte> shared = Convert.FromHexString("4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742");
        try
        {
            Span<byte> publicKey = stackalloc byte[KeySize];
            Span<byte> secret = stackalloc byte[KeySize];
            using var key = CreatePrivateKey(alicePrivate, publicKey);
            return publicKey.SequenceEqual(alicePublic) && TryDerive(key, bobPublic, secret) && secret.SequenceEqual(shared);
        }
        catch (Exception ex) when (ex is CryptographicException or EntryPointNotFoundException or DllNotFoundException)
        {
            return false;
        }
    }

    /// <summary>OpenSSL's <c>OSSL_PARAM</c>.</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct OsslParam
    {
        public byte* Key;
        public uint DataType;
        public void* Data;
        public nuint DataSize;
        public nuint ReturnSize;
    }

    /// <summary>
    /// One thread's X25519 context ready for <c>EVP_PKEY_fromdata</c> (a context is not safe to share between threads;
    /// it is reused for every import on its thread). Freed when its thread has ended and the object is collected.
    /// </summary>
    private sealed class KeyImport
    {
        public KeyImport()
        {
            fixed (byte* name = "X25519\0"u8)
            {
                Context = s_newContextFromName(0, name, null);
            }

            if (Context != 0 && s_fromDataInit(Context) != 1)
            {
                s_freeContext(Context);
                Context = 0;
            }

            if (Context == 0)
            {
                s_clearErrors();
            }
        }

        ~KeyImport()
        {
            if (Context != 0)
            {
                s_freeContext(Context);
            }
        }

        /// <summary>The context; 0 if libcrypto could not make one (then every import on this thread fails, and says so).</summary>
        public nint Context { get; }
    }

    /// <summary>An EVP_PKEY owned by managed code.</summary>
    internal sealed class KeyHandle : SafeHandle
    {
        public KeyHandle()
            : base(0, ownsHandle: true)
        {
        }

        public override bool IsInvalid => handle == 0;

        internal new void SetHandle(nint value) => base.SetHandle(value);

        protected override bool ReleaseHandle()
        {
            s_freeKey(handle);
            return true;
        }
    }
}
