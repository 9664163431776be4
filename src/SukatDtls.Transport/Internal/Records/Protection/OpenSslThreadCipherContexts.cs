namespace SukatDtls.Transport.Internal;

/// <summary>
/// The libcrypto EVP contexts the AEAD record ciphers run on: a few per thread and direction, not one per connection and
/// direction. An AES-GCM context is about 1.2 KB of native memory (key schedule and GHASH table), so two per connection
/// were 2.3 KB of every idle session's RSS; a thread needs one only while a record goes through. Each context remembers
/// which cipher keyed it last, so a thread that goes back and forth between up to <see cref="ContextsPerDirection"/>
/// connections keys each once, and beyond that pays a key schedule when it switches (about 0.18 µs for AES-128-GCM,
/// against about 0.45 µs to seal a 1,000-byte record; docs/benchmarks.md, "Memory per session").
/// </summary>
/// <remarks>
/// A context is used from start to end of one record on its own thread and never handed to another, so nothing locks.
/// It is freed by its finalizer when its thread ends. The last key schedule stays in the context until the thread
/// re-keys it: key material in this process's memory, as the connection's own key bytes are until the connection is
/// disposed.
/// </remarks>
internal static class OpenSslThreadCipherContexts
{
    /// <summary>
    /// Contexts per thread and direction: a thread that serves a few busy connections in turn (a receive loop, the
    /// writers of an echo) keeps each one's key schedule; 8 contexts are about 10 KB per thread that handles records.
    /// </summary>
    public const int ContextsPerDirection = 4;

    [ThreadStatic] private static ThreadContexts? t_seal;
    [ThreadStatic] private static ThreadContexts? t_open;

    private static long s_lastOwner;

    /// <summary>A token for one cipher instance, never 0 and never reused in the process's life.</summary>
    public static long NewOwner() => Interlocked.Increment(ref s_lastOwner);

    /// <summary>
    /// A context of this thread for the direction, and what it holds for <paramref name="owner"/>, whose EVP cipher is
    /// <paramref name="cipher"/>: the one <paramref name="owner"/> keyed last if it is still here, else the one used
    /// least recently. It counts as holding nothing until <see cref="Keyed"/> says otherwise for
    /// <paramref name="slot"/>, so a record that fails half-way leaves it unknown.
    /// </summary>
    public static nint Take(bool encrypt, long owner, nint cipher, out EvpContextKeying keying, out int slot)
    {
        var contexts = encrypt ? t_seal ??= new ThreadContexts() : t_open ??= new ThreadContexts();
        return contexts.Take(owner, cipher, out keying, out slot);
    }

    /// <summary>
    /// The record went through: this thread's context <paramref name="slot"/> for the direction holds
    /// <paramref name="owner"/>'s key for <paramref name="cipher"/>.
    /// </summary>
    public static void Keyed(bool encrypt, int slot, long owner, nint cipher) =>
        (encrypt ? t_seal : t_open)!.Keyed(slot, owner, cipher);

    /// <summary>One thread's contexts for one direction, with who keyed each last and when it was used.</summary>
    private sealed class ThreadContexts
    {
        private readonly OpenSslCipherContext?[] _contexts = new OpenSslCipherContext?[ContextsPerDirection];

        // Which cipher instance keyed each context last (0: none, or a record failed half-way and its state is
        // unknown), and with which EVP cipher: re-keying a context for the same cipher skips libcrypto's reset and
        // re-allocation of the cipher's state (0.18 instead of 0.55 µs for AES-128-GCM).
        private readonly long[] _owners = new long[ContextsPerDirection];
        private readonly nint[] _ciphers = new nint[ContextsPerDirection];
        private readonly long[] _lastUse = new long[ContextsPerDirection];
        private long _uses;

        public nint Take(long owner, nint cipher, out EvpContextKeying keying, out int slot)
        {
            slot = -1;
            int leastRecent = 0;
            for (int i = 0; i < ContextsPerDirection; i++)
            {
                if (_owners[i] == owner)
                {
                    slot = i;
                    break;
                }

                if (_lastUse[i] < _lastUse[leastRecent])
                {
                    leastRecent = i;
                }
            }

            if (slot >= 0)
            {
                keying = EvpContextKeying.OwnKey;
            }
            else
            {
                slot = leastRecent;
                keying = _ciphers[slot] == cipher ? EvpContextKeying.SameCipher : EvpContextKeying.OtherCipher;
            }

            (_owners[slot], _ciphers[slot], _lastUse[slot]) = (0, 0, ++_uses);

            // This thread's static field keeps the handle alive for as long as the thread runs: no reference count.
            return (_contexts[slot] ??= new OpenSslCipherContext()).DangerousGetHandle();
        }

        public void Keyed(int slot, long owner, nint cipher) => (_owners[slot], _ciphers[slot]) = (owner, cipher);
    }
}

/// <summary>What a thread's EVP context holds for the cipher about to use it.</summary>
internal enum EvpContextKeying
{
    /// <summary>Neither this cipher's key nor its EVP cipher: set both.</summary>
    OtherCipher,

    /// <summary>Its EVP cipher under another key: set the key only.</summary>
    SameCipher,

    /// <summary>Its own key, from this thread's last record for it: set the nonce only.</summary>
    OwnKey,
}
