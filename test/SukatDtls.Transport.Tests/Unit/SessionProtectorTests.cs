using SukatDtls.Transport.Internal;

namespace SukatDtls.Transport.Tests.Unit;

/// <summary>Stored sessions encrypted at rest: only our key opens them, only under their own session ID, and no changed byte goes unnoticed.</summary>
public sealed class SessionProtectorTests
{
    private static readonly byte[] s_key = Convert.FromHexString("000102030405060708090a0b0c0d0e0f");
    private static readonly byte[] s_sessionId = Enumerable.Range(0, 32).Select(i => (byte)(i * 7)).ToArray();
    private static readonly byte[] s_plaintext = "a session with its master secret"u8.ToArray();

    private readonly SessionProtector _protector = new(s_key);

    [Fact]
    public void A_sealed_session_opens_under_its_session_id_and_hides_the_plaintext()
    {
        byte[] blob = _protector.Seal(s_plaintext, s_sessionId);

        Assert.Equal(SessionProtector.OpenResult.Opened, _protector.TryOpen(blob, s_sessionId, out byte[]? plaintext, out _));
        Assert.Equal(s_plaintext, plaintext);
        Assert.Equal(-1, blob.AsSpan().IndexOf("master secret"u8));
        Assert.NotEqual(blob, _protector.Seal(s_plaintext, s_sessionId)); // a fresh nonce each time
    }

    [Fact]
    public void Every_changed_byte_is_found()
    {
        byte[] blob = _protector.Seal(s_plaintext, s_sessionId);
        for (int i = 0; i < blob.Length; i++)
        {
            byte[] changed = (byte[])blob.Clone();
            changed[i] ^= 0x20;
            var result = _protector.TryOpen(changed, s_sessionId, out byte[]? plaintext, out _);
            Assert.NotEqual(SessionProtector.OpenResult.Opened, result);
            Assert.Null(plaintext);
            Assert.Equal(i == 0 ? SessionProtector.OpenResult.Malformed : i <= 4 ? SessionProtector.OpenResult.OtherKey : SessionProtector.OpenResult.Tampered, result);
        }
    }

    [Fact]
    public void A_session_moved_to_another_session_id_does_not_open()
    {
        byte[] blob = _protector.Seal(s_plaintext, s_sessionId);
        byte[] otherId = (byte[])s_sessionId.Clone();
        otherId[^1] ^= 1;

        Assert.Equal(SessionProtector.OpenResult.Tampered, _protector.TryOpen(blob, otherId, out _, out _));
        Assert.Equal(SessionProtector.OpenResult.Tampered, _protector.TryOpen(blob, s_sessionId.AsSpan(0, 31), out _, out _));
    }

    [Fact]
    public void Another_key_is_named_as_such_and_does_not_open()
    {
        byte[] blob = _protector.Seal(s_plaintext, s_sessionId);
        var other = new SessionProtector(Convert.FromHexString("ff0102030405060708090a0b0c0d0e0f"));

        Assert.Equal(SessionProtector.OpenResult.OtherKey, other.TryOpen(blob, s_sessionId, out _, out uint keyId));
        Assert.Equal(_protector.KeyId, keyId);
        Assert.NotEqual(_protector.KeyId, other.KeyId);
        Assert.Equal(_protector.KeyId, new SessionProtector(s_key).KeyId);
    }

    [Fact]
    public void Short_or_foreign_bytes_are_malformed()
    {
        Assert.Equal(SessionProtector.OpenResult.Malformed, _protector.TryOpen([], s_sessionId, out _, out _));
        Assert.Equal(SessionProtector.OpenResult.Malformed, _protector.TryOpen(new byte[32], s_sessionId, out _, out _));
        Assert.Equal(SessionProtector.OpenResult.Malformed, _protector.TryOpen("{\"json\":true,\"not\":\"ours\",\"xxxxxx\":1}"u8, s_sessionId, out _, out _));
    }
}
