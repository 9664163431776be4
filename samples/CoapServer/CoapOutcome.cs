namespace SukatDtls.Samples.CoapServer;

/// <summary>What the messaging layer did with a datagram, for the log.</summary>
internal enum CoapOutcome
{
    /// <summary>A request, answered (piggybacked on the ACK of a CON, or as a NON).</summary>
    Answered,

    /// <summary>A retransmitted CON: the cached answer went again, the request was not executed again.</summary>
    AnsweredFromCache,

    /// <summary>Rejected with a Reset (a format error, a ping, a message we cannot process).</summary>
    Reset,

    /// <summary>Nothing sent: an ACK or RST (we send no CONs), another version, too short, a duplicate NON.</summary>
    Ignored,
}
