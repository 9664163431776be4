namespace SukatDtls.Samples.NcDtls;

/// <summary>A failure the user can act on: printed as one line <c>nc-dtls: MESSAGE</c>, exit code 1, no stack trace.</summary>
internal sealed class NcDtlsException : Exception
{
    public NcDtlsException()
    {
    }

    public NcDtlsException(string message)
        : base(message)
    {
    }

    public NcDtlsException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
