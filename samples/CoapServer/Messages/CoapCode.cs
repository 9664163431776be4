namespace SukatDtls.Samples.CoapServer.Messages;

/// <summary>
/// A message code (RFC 7252 §3, §12.1): a 3-bit class and a 5-bit detail, written "c.dd". Class 0 holds the methods
/// (and 0.00, the Empty message), 2 success, 4 client errors, 5 server errors; 1, 6 and 7 are reserved.
/// </summary>
internal readonly record struct CoapCode(byte Value)
{
    public static readonly CoapCode Empty = new(0, 0);
    public static readonly CoapCode Get = new(0, 1);
    public static readonly CoapCode Post = new(0, 2);
    public static readonly CoapCode Put = new(0, 3);
    public static readonly CoapCode Delete = new(0, 4);

    public static readonly CoapCode Created = new(2, 1);
    public static readonly CoapCode Changed = new(2, 4);
    public static readonly CoapCode Content = new(2, 5);

    public static readonly CoapCode BadRequest = new(4, 0);
    public static readonly CoapCode BadOption = new(4, 2);
    public static readonly CoapCode NotFound = new(4, 4);
    public static readonly CoapCode MethodNotAllowed = new(4, 5);
    public static readonly CoapCode NotAcceptable = new(4, 6);
    public static readonly CoapCode RequestEntityTooLarge = new(4, 13);
    public static readonly CoapCode UnsupportedContentFormat = new(4, 15);
    public static readonly CoapCode ProxyingNotSupported = new(5, 5);

    public CoapCode(int codeClass, int detail)
        : this((byte)((codeClass << 5) | detail))
    {
        if (codeClass is < 0 or > 7 || detail is < 0 or > 31)
        {
            throw new ArgumentOutOfRangeException(nameof(codeClass), $"{codeClass}.{detail:D2} is not a CoAP code.");
        }
    }

    public int Class => Value >> 5;

    public int Detail => Value & 0x1F;

    public bool IsEmpty => Value == 0;

    public bool IsRequest => Class == 0 && Value != 0;

    public bool IsResponse => Class is 2 or 4 or 5;

    /// <summary>Classes 1, 6 and 7: RFC 7252 §4.2/§4.3 treat a message with such a code as a format error.</summary>
    public bool IsReserved => Class is 1 or 6 or 7;

    public override string ToString() => $"{Class}.{Detail:D2}";
}
