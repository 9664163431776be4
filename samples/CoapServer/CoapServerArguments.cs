namespace SukatDtls.Samples.CoapServer;

/// <summary>
/// The CoAP server's command line: <c>[--port N]</c>. The option overrides <c>Coap:DtlsPort</c> of appsettings.json;
/// everything else (the <c>Dtls</c> section: certificate, <c>PskKeys:IDENTITY</c>, <c>ClientRawPublicKeys:N</c>, …)
/// comes from appsettings.json or environment variables, as for the echo sample.
/// </summary>
internal sealed record CoapServerArguments(IReadOnlyDictionary<string, string?> ConfigurationOverrides, bool ShowHelp)
{
    public const string Usage =
        "usage: CoapServer [--port N]\n" +
        "  --port N   UDP port of the CoAP-over-DTLS endpoint on [::] (default 5684, coaps; 0 = any free port)\n" +
        "Everything else comes from appsettings.json (section Dtls) or environment variables:\n" +
        "  Dtls__PskKeys__IDENTITY=HEXKEY          a pre-shared key (PSK mode)\n" +
        "  Dtls__ClientRawPublicKeys__0=SHA256HEX  a device's raw public key (RawPublicKey mode)\n" +
        "  Dtls__CertificatePath, Dtls__KeyPath    the server certificate (default: the development certificate)";

    public static CoapServerArguments Parse(string[] args)
    {
        var overrides = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        bool help = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--port":
                    overrides["Coap:DtlsPort"] = Port(args, ref i);
                    break;
                case "-h" or "--help":
                    help = true;
                    break;
                default:
                    throw new ArgumentException($"unknown argument '{args[i]}'.");
            }
        }

        return new CoapServerArguments(overrides, help);
    }

    private static string Port(string[] args, ref int i)
    {
        if (i + 1 >= args.Length)
        {
            throw new ArgumentException($"{args[i]} needs a value.");
        }

        string value = args[++i];
        return int.TryParse(value, out int port) && port is >= 0 and <= 65535
            ? value
            : throw new ArgumentException($"--port needs a number from 0 to 65535, not '{value}'.");
    }
}
