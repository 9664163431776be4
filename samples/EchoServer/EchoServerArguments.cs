namespace SukatDtls.Samples.EchoServer;

/// <summary>The echo server's command line: <c>[--port N] [--cert FILE --key FILE]</c>.</summary>
internal sealed record EchoServerArguments(int Port, string CertificateFile, string KeyFile, bool ShowHelp)
{
    public const string Usage = "usage: EchoServer [--port N (default 5684, 0 = any free port)] [--cert FILE --key FILE (PEM)]";

    public static EchoServerArguments Parse(string[] args)
    {
        int port = 5684;
        string certificate = Path.Combine(AppContext.BaseDirectory, "certs", "server.pem");
        string key = Path.Combine(AppContext.BaseDirectory, "certs", "server.key");
        bool certGiven = false, keyGiven = false, help = false;
        for (int i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--port":
                    string value = Value(args, ref i);
                    if (!int.TryParse(value, out port) || port is < 0 or > 65535)
                    {
                        throw new ArgumentException($"--port needs a number from 0 to 65535, not '{value}'.");
                    }

                    break;
                case "--cert":
                    certificate = Value(args, ref i);
                    certGiven = true;
                    break;
                case "--key":
                    key = Value(args, ref i);
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

        return new EchoServerArguments(port, certificate, key, help);
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
