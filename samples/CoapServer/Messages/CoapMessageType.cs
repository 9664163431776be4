namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>The message type (RFC 7252 §3, the header's T field): how reliably a message travels.</summary>
internal enum CoapMessageType : byte
{
    /// <summary>CON: the recipient acknowledges it (or rejects it with a Reset); the sender retransmits until it does.</summary>
    Confirmable = 0,

    /// <summary>NON: no acknowledgement.</summary>
    NonConfirmable = 1,

    /// <summary>ACK: acknowledges a Confirmable message; may carry its response (a piggybacked response).</summary>
    Acknowledgement = 2,

    /// <summary>RST: the recipient could not process the message it refers to (by message ID).</summary>
    Reset = 3,
}
