namespace SukatDtls.Transport.Internal;

/// <summary>
/// A lookup of the distributed session store that did not succeed (timed out, store unavailable, a stored session that
/// does not decrypt). The store has logged it (throttled); the handshake counts it as a lookup error of
/// <see cref="ErrorType"/> and goes on with a full handshake.
/// </summary>
internal sealed class SessionStoreException(string errorType, string message, Exception? inner = null) : Exception(message, inner)
{
    /// <summary>The <c>error.type</c> tag: <c>timeout</c>, <c>unavailable</c>, <c>undecryptable</c>, or the store's exception type.</summary>
    public string ErrorType { get; } = errorType;
}
