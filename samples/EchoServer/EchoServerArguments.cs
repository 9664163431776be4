namespace SukatDtls.Samples.EchoServer;

/// <summary>
/// The echo server's command line: <c>[--port N] [--status-port N] [--cert FILE --key FILE]</c>. Each option overrides
/// the matching key of appsettings.json (<c>Echo:DtlsPort</c>, <c>Echo:StatusPort</c>, <c>Dtls:CertificatePath</c>,
/// <c>Dtls:KeyPath</c>); environment variables such as <c>Dtls__IdleTimeout</c> override the file too.
/// </summary>
internal sealed record EchoServerArguments(IReadOnlyDictionary<string, string?> ConfigurationOverrides, bool ShowHelp)
{
    public const string Usage =
        "usage: EchoServer [--port N] [--status-port N] [--cert FILE --key FILE]\n" +
        "  --port N          UDP port of the DTLS echo endpoint on [::] (default 5684; 0 = any free port)\n" +
        "  --status-port N   TCP port of the status page on 127.0.0.1 (default 8080; 0 = any free port)\n" +
        "  --cert, --key     PEM certificate and private key (default: the development certificate in certs/)\n" +
        "Everything else comes from appsettings.json (section Dtls) or environment variables (Dtls__IdleTimeout=00:05:00).";

    public static EchoServerArguments Parse(string[] args)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        bool certGiven = false, keyGiven = false, help = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--port":
                    overrides["Echo:DtlsPort"] = Port(args, ref i);
                    break;
                case "--status-port":
                    overrides["Echo:StatusPort"] = Port(args, ref i);
                    break;
                case "--cert":
                    overrides["Dtls:CertificatePath"] = Path.GetFullPath(Value(args, ref i));
                    certGiven = true;
                    break;
                case "--key":
                    overrides["Dtls:KeyPath"] = Path.GetFullPath(Value(args, ref i));
                    keyGiven = true;
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}'.");
            }
        }

        if (certGiven != keyGiven)
        {
            throw new ArgumentException("--cert and --key go together.");
        }

        return new EchoServerArguments(overrides, help);
    }

    private static string Port(string[] args, ref int i)
    {
        string option = args[i];
        string value = Value(args, ref i);
        if (!int.TryParse(value, out int port) || port is < 0 or > 65535)
        {
            throw new ArgumentException($"{option} needs a number from 0 to 65535, not '{value}'.");
        }

        return value;
    }

    private static string Value(string[] args, ref int i)
    {
        if (i + 1 >= args.Length)
        {
            throw new ArgumentException($"{args[i]} needs a value.");
        }

        return args[++i];
    }
}
