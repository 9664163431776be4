namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>What a connection learns from BouncyCastle's <see cref="Org.BouncyCastle.Tls.TlsPeer"/> callbacks.</summary>
internal interface IDtlsPeerEvents
{
    /// <summary>An alert arrived from the peer; close_notify is the graceful end of its sending side.</summary>
    void OnAlertReceived(short alertLevel, short alertDescription);

    /// <summary>We are sending an alert (BouncyCastle decided it, or close_notify on our close).</summary>
    void OnAlertRaised(short alertLevel, short alertDescription, string? message, Exception? cause);
}
