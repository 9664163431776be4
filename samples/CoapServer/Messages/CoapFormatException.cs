namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>
/// A datagram is not a well-formed CoAP message (RFC 7252 §3: a "message format error"). The only exception
/// <see cref="CoapMessageReader"/> throws, whatever the bytes.
/// </summary>
internal sealed class CoapFormatException(string message) : Exception(message);
