namespace SukatDtls.Transport;

/// <summary>
/// Looks up pre-shared keys by identity, for PSK and ECDHE-PSK cipher suites (as CoAP and LwM2M devices use them).
/// May be backed by any store; it is called once per PSK handshake, on a handshake thread.
/// </summary>
public interface IDtlsPskKeyStore
{
    /// <summary>The key of <paramref name="identity"/>, or null for an unknown identity (the handshake then fails).</summary>
    /// <param name="identity">The identity the client sent (often UTF-8 text, but any bytes are allowed).</param>
    /// <param name="cancellationToken">Cancelled when the handshake is abandoned.</param>
    ValueTask<byte[]?> GetKeyAsync(ReadOnlyMemory<byte> identity, CancellationToken cancellationToken);
}
