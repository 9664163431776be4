namespace SukatDtls.Transport.Internal;

/// <summary>
/// The libcrypto EVP contexts the AEAD record ciphers run on: one per thread and direction, not one per connection and
/// direction. An AES-GCM context is about 1.2 KB of native memory (key schedule and GHASH table), so two per connection
/// were 2.3 KB of every idle session's RSS; a thread needs them only while a record goes through. Each context remembers
/// which cipher keyed it last, so a thread that seals or opens records of one connection after another keys once, and a
/// thread that interleaves connections pays a key schedule per switch (about 0.1 µs for AES-GCM, on a record of
/// 1,000 bytes that costs about 1 µs to seal; docs/benchmarks.md, "Memory per session").
/// </summary>
/// <remarks>
/// A context is used from start to end of one record on its own thread and never handed to another, so nothing locks.
/// It is freed by its finalizer when its thread ends. The last key schedule stays in the context until the thread's
/// next record re-keys it: key material in this process's memory, as the connection's own key bytes are until the
/// connection is disposed.
/// </remarks>
internal static class OpenSslThreadCipherContexts
{
    [ThreadStatic] private static OpenSslCipherContext? t_seal;
    [ThreadStatic] private static OpenSslCipherContext? t_open;

    // Which cipher instance keyed each context last (0: none, or a record failed half-way and its state is unknown).
    [ThreadStatic] private static long t_sealOwner;
    [ThreadStatic] private static long t_openOwner;

    private static long s_lastOwner;

    /// <summary>A token for one cipher instance, never 0 and never reused in the process's life.</summary>
    public static long NewOwner() => Interlocked.Increment(ref s_lastOwner);

    /// <summary>
    /// This thread's context for the direction, and whether <paramref name="owner"/> keyed it last. The context counts
    /// as keyed by nobody until <see cref="Keyed"/> says otherwise, so a record that fails half-way leaves it unknown.
    /// </summary>
    public static nint Take(bool encrypt, long owner, out bool keyedByOwner)
    {
        OpenSslCipherContext context;
        if (encrypt)
        {
            context = t_seal ??= new OpenSslCipherContext();
            keyedByOwner = t_sealOwner == owner;
            t_sealOwner = 0;
        }
        else
        {
            context = t_open ??= new OpenSslCipherContext();
            keyedByOwner = t_openOwner == owner;
            t_openOwner = 0;
        }

        // The thread's static field keeps the handle alive for as long as this thread runs; no reference count needed.
        return context.DangerousGetHandle();
    }

    /// <summary>The record went through: this thread's context for the direction holds <paramref name="owner"/>'s key.</summary>
    public static void Keyed(bool encrypt, long owner)
    {
        if (encrypt)
        {
            t_sealOwner = owner;
        }
        else
        {
            t_openOwner = owner;
        }
    }
}
