using System.Runtime.InteropServices;
using System.Security.Cryptography;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>
/// One copy of an ECDSA private key in the system libcrypto with its signing context made once, for
/// <see cref="PlatformKeyPool"/>. .NET's <see cref="ECDsa.SignHash(byte[])"/> makes a context for every signature, and
/// OpenSSL 3.0 walks all of libcrypto's algorithm names for every new context (2.6 µs of a 22 µs P-256 signature here,
/// measured in C); it then turns OpenSSL's DER signature into r ‖ s, which we turned back into the DER TLS carries.
/// <c>EVP_PKEY_sign</c> on a kept context gives the DER directly.
/// </summary>
/// <remarks>
/// Used by one signer at a time (the pool rents it out). Made only when libcrypto loads with every entry point and the
/// copy's first signature verifies with .NET's own import of the key; else the pool keeps .NET's <see cref="ECDsa"/>.
/// </remarks>
internal sealed unsafe class OpenSslEcdsaKey : IDisposable
{
    /// <summary>Room for the DER signature of the largest curve, P-521 (at most 139 bytes).</summary>
    private const int MaxSignatureLength = 144;

    private static readonly delegate* unmanaged<nint, byte**, nint, nint> s_readPrivateKey;
    private static readonly delegate* unmanaged<nint, void> s_freeKey;
    private static readonly delegate* unmanaged<nint, nint, nint> s_newContext;
    private static readonly delegate* unmanaged<nint, void> s_freeContext;
    private static readonly delegate* unmanaged<nint, int> s_signInit;
    private static readonly delegate* unmanaged<nint, byte*, nuint*, byte*, nuint, int> s_sign;
    private static readonly delegate* unmanaged<void> s_clearErrors;
    private static readonly bool s_isAvailable;

    private nint _key;
    private nint _context;

#pragma warning disable CA1810 // The entry points are resolved together, once.
    static OpenSslEcdsaKey()
#pragma warning restore CA1810
    {
        foreach (var (_, library) in LibCrypto.Candidates())
        {
            if (NativeLibrary.TryGetExport(library, "d2i_AutoPrivateKey", out nint readPrivateKey)
                && NativeLibrary.TryGetExport(library, "EVP_PKEY_free", out nint freeKey)
                && NativeLibrary.TryGetExport(library, "EVP_PKEY_CTX_new", out nint newContext)
                && NativeLibrary.TryGetExport(library, "EVP_PKEY_CTX_free", out nint freeContext)
                && NativeLibrary.TryGetExport(library, "EVP_PKEY_sign_init", out nint signInit)
                && NativeLibrary.TryGetExport(library, "EVP_PKEY_sign", out nint sign)
                && NativeLibrary.TryGetExport(library, "ERR_clear_error", out nint clearErrors))
            {
                s_readPrivateKey = (delegate* unmanaged<nint, byte**, nint, nint>)readPrivateKey;
                s_freeKey = (delegate* unmanaged<nint, void>)freeKey;
                s_newContext = (delegate* unmanaged<nint, nint, nint>)newContext;
                s_freeContext = (delegate* unmanaged<nint, void>)freeContext;
                s_signInit = (delegate* unmanaged<nint, int>)signInit;
                s_sign = (delegate* unmanaged<nint, byte*, nuint*, byte*, nuint, int>)sign;
                s_clearErrors = (delegate* unmanaged<void>)clearErrors;
                s_isAvailable = true;
                return;
            }
        }
    }

    private OpenSslEcdsaKey(nint key, nint context)
    {
        _key = key;
        _context = context;
    }

    ~OpenSslEcdsaKey() => Free();

    /// <summary>
    /// A copy of the PKCS #8 key <paramref name="pkcs8"/> ready to sign; null where libcrypto is not there, refuses the
    /// key, or signs wrongly (checked against <paramref name="verifier"/>, .NET's import of the same key).
    /// </summary>
    public static OpenSslEcdsaKey? TryCreate(byte[] pkcs8, ECDsa verifier)
    {
        if (!s_isAvailable)
        {
            return null;
        }

        nint key;
        fixed (byte* start = pkcs8)
        {
            byte* position = start;
            key = s_readPrivateKey(0, &position, pkcs8.Length);
        }

        nint context = key == 0 ? 0 : s_newContext(key, 0);
        if (context == 0 || s_signInit(context) != 1)
        {
            s_clearErrors();
            if (context != 0)
            {
                s_freeContext(context);
            }

            if (key != 0)
            {
                s_freeKey(key);
            }

            return null;
        }

        var copy = new OpenSslEcdsaKey(key, context);
        byte[] probe = SHA256.HashData("SukatDtls.Transport: a signature made by libcrypto verifies"u8);
        if (copy.TrySign(probe) is not { } signature
            || !verifier.VerifyHash(probe, signature, DSASignatureFormat.Rfc3279DerSequence))
        {
            copy.Dispose();
            return null;
        }

        return copy;
    }

    /// <summary>The DER <c>ECDSA-Sig-Value</c> of <paramref name="hash"/>, as TLS 1.2 carries it.</summary>
    /// <exception cref="CryptographicException">libcrypto failed.</exception>
    public byte[] Sign(ReadOnlySpan<byte> hash) =>
        TrySign(hash) ?? throw new CryptographicException("libcrypto's EVP_PKEY_sign failed.");

    public void Dispose()
    {
        Free();
        GC.SuppressFinalize(this);
    }

    private byte[]? TrySign(ReadOnlySpan<byte> hash)
    {
        ObjectDisposedException.ThrowIf(_context == 0, this);
        byte* signature = stackalloc byte[MaxSignatureLength];
        nuint length = MaxSignatureLength;
        fixed (byte* hashPointer = hash)
        {
            if (s_sign(_context, signature, &length, hashPointer, (nuint)hash.Length) != 1)
            {
                // Leave no error on this thread's OpenSSL error queue for the next user of libcrypto.
                s_clearErrors();
                return null;
            }
        }

        GC.KeepAlive(this);
        return new ReadOnlySpan<byte>(signature, (int)length).ToArray();
    }

    private void Free()
    {
        if (_context != 0)
        {
            s_freeContext(_context);
            _context = 0;
        }

        if (_key != 0)
        {
            s_freeKey(_key);
            _key = 0;
        }
    }
}
