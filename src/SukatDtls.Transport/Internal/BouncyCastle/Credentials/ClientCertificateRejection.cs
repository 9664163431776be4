namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>Why a client certificate was refused, and the alert that tells the client.</summary>
internal sealed record ClientCertificateRejection(short Alert, string Reason);
