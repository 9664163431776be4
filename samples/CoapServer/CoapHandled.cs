namespace SukatDtls.Samples.CoapServer;

/// <summary>One datagram's handling: the outcome, the bytes to send back (or none), and why, for the log.</summary>
internal readonly record struct CoapHandled(CoapOutcome Outcome, byte[]? Answer, string Detail);
