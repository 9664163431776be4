using System.CommandLine;
using System.CommandLine.Parsing;
using System.Globalization;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// The command line of nc-dtls, as sukat_dtls's nc_dtls has it: <c>nc-dtls [options] &lt;destination&gt; &lt;port&gt;</c>
/// and <c>nc-dtls -l [options] [address] [port]</c>, plus the client's trust options and a handshake timeout.
/// </summary>
internal sealed class NcDtlsCommandLine
{
    public const string Name = "nc-dtls";

    public const string Usage =
        "usage: nc-dtls [options] <destination> <port>\n"
        + "       nc-dtls -l [options] [<address>] [<port>]";

    private const string Description =
        "Netcat on DTLS 1.2 (the C# port of sukat_dtls's nc_dtls): standard input goes to the peer, the peer's data to\n"
        + "standard output, byte for byte.\n"
        + "\n"
        + "  nc-dtls [options] <destination> <port>      connect to a DTLS server\n"
        + "  nc-dtls -l [options] [<address>] [<port>]   serve DTLS clients\n"
        + "\n"
        + "Client: the server certificate is checked against the system trust store, or against --ca, or not at all with\n"
        + "--insecure. Every address of the destination is tried, the next after 250 ms without an answer (localhost is\n"
        + "::1 and 127.0.0.1); a port where nothing listens is refused within a second. End of standard input sends\n"
        + "close_notify (after everything read was sent) and exits 0; the server's close_notify exits 0 too; Ctrl-C\n"
        + "(SIGINT) or SIGTERM sends close_notify and exits 130 or 143. With --cid the session outlives a change of the\n"
        + "client's address or port.\n"
        + "\n"
        + "Listen: binds [::] (dual-stack: IPv4 clients too) on port 0 (any free port) unless told otherwise; a lone number\n"
        + "is the port. Serves any number of clients at once. Prints 'Hosting at: ADDRESS:PORT' on standard output first,\n"
        + "then every client's data as it arrives; standard input goes to every established client. Runs until Ctrl-C or\n"
        + "SIGTERM, which sends close_notify to every client.\n"
        + "\n"
        + "Logs go to standard error only. Exit codes: 0 done, 1 error, 2 usage error, 130/143 ended by SIGINT/SIGTERM.";

    private readonly Option<bool> _listen = new("--listen", "-l")
    {
        Description = "Listen for DTLS clients instead of connecting to a server.",
    };

    private readonly Option<string?> _certificate = new("--cert", "-c")
    {
        HelpName = "FILE",
        Description = "PEM certificate. Listen: the server certificate (default: the development certificate "
            + "certs/server.pem next to the program); intermediates may follow it in the file. Client: a client "
            + "certificate, sent when the server asks for one.",
    };

    private readonly Option<string?> _key = new("--pkey", "-k")
    {
        HelpName = "FILE",
        Description = "PEM private key of --cert (default: the --cert file itself; for the default certificate, "
            + "certs/server.key).",
    };

    private readonly Option<string?> _ca = new("--ca")
    {
        HelpName = "FILE",
        Description = "Client: trust only the certificate authorities of this PEM bundle for the server certificate, "
            + "instead of the system trust store.",
    };

    private readonly Option<bool> _insecure = new("--insecure")
    {
        Description = "Client: accept any server certificate without checking it (tests and diagnostics only).",
    };

    private readonly Option<bool> _connectionId = new("--cid")
    {
        Description = "Client: ask the server for a Connection ID (RFC 9146), so that the session survives this "
            + "client's address or port changing (a NAT that rebinds, a new network) without a new handshake. The "
            + "listener grants one to every client that asks. A change during the handshake still needs a new one.",
    };

    private readonly Option<double?> _timeout = new("--timeout", "-w")
    {
        HelpName = "SECONDS",
        Description = "How long a DTLS handshake may take, as nc's -w (default 10). A client that gets no answer "
            + "within it gives up.",
    };

    private readonly Option<bool> _verbose = new("--verbose", "-v")
    {
        Arity = ArgumentArity.Zero,
        Description = "Log to standard error; repeat for more: -v connections (each client's connect, established "
            + "and closed when listening), -vv debug, -vvv trace.",
    };

    private readonly Argument<string?> _destination = new("destination")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description = "Client: the server's host name or IP address. Listen: the address to bind (default [::]).",
    };

    private readonly Argument<string?> _port = new("port")
    {
        Arity = ArgumentArity.ZeroOrOne,
        Description = "Client: the server's UDP port. Listen: the UDP port to bind (default 0: any free port).",
    };

    public NcDtlsCommandLine()
    {
        Command = new RootCommand(Description)
        {
            _listen,
            _certificate,
            _key,
            _ca,
            _insecure,
            _connectionId,
            _timeout,
            _verbose,
            _destination,
            _port,
        };

        // Consistency errors become parse errors: the same usage message and exit code as an unknown option.
        Command.Validators.Add(result =>
        {
            string? error;
            try
            {
                TryGetSettings(result, out _, out error);
            }
            catch (InvalidOperationException)
            {
                // A value that did not parse ("-w soon") is reported by the parser already; reading it throws.
                return;
            }

            if (error is not null)
            {
                result.AddError(error);
            }
        });
    }

    public RootCommand Command { get; }

    /// <summary>The settings of a parse result that has no errors.</summary>
    public NcDtlsSettings GetSettings(ParseResult parseResult)
    {
        ArgumentNullException.ThrowIfNull(parseResult);
        if (!TryGetSettings(parseResult.CommandResult, out var settings, out string? error))
        {
            throw new InvalidOperationException(error);
        }

        return settings;
    }

    private bool TryGetSettings(CommandResult result, out NcDtlsSettings settings, out string? error)
    {
        settings = null!;
        bool listen = result.GetValue(_listen);
        string? first = result.GetValue(_destination);
        string? second = result.GetValue(_port);
        string? certificate = result.GetValue(_certificate);
        string? key = result.GetValue(_key);
        string? ca = result.GetValue(_ca);
        bool insecure = result.GetValue(_insecure);
        bool connectionId = result.GetValue(_connectionId);
        double? timeoutSeconds = result.GetValue(_timeout);
        int verbosity = result.GetResult(_verbose)?.IdentifierTokenCount ?? 0;

        // System.CommandLine takes an unknown "-x" or "--xyz" for an argument value; no host name or port starts with '-'.
        foreach (string? positional in (string?[])[first, second])
        {
            if (positional is { Length: > 1 } && positional[0] == '-')
            {
                error = $"unknown option '{positional}'.";
                return false;
            }
        }

        if (key is not null && certificate is null)
        {
            error = "--pkey needs --cert (the certificate the key belongs to).";
            return false;
        }

        var timeout = NcDtlsSettings.DefaultHandshakeTimeout;
        if (timeoutSeconds is { } seconds)
        {
            if (!double.IsFinite(seconds) || seconds <= 0 || seconds > int.MaxValue / 1000.0)
            {
                error = $"--timeout needs a positive number of seconds, not '{seconds.ToString(CultureInfo.InvariantCulture)}'.";
                return false;
            }

            timeout = TimeSpan.FromSeconds(seconds);
        }

        string? host;
        string? portText;
        if (listen)
        {
            if (ca is not null || insecure)
            {
                error = "--ca and --insecure are client options (they check the server certificate); the listener checks no client certificate.";
                return false;
            }

            if (connectionId)
            {
                error = "--cid is a client option; the listener grants a Connection ID to every client that asks for one.";
                return false;
            }

            // As in nc_dtls, a lone number is the port: "nc-dtls -l 5684".
            (host, portText) = second is null && first is not null && first.All(char.IsAsciiDigit) ? (null, first) : (first, second);
        }
        else
        {
            if (first is null || second is null)
            {
                error = "a client needs <destination> and <port> (or -l to listen).";
                return false;
            }

            if (ca is not null && insecure)
            {
                error = "--ca and --insecure exclude each other.";
                return false;
            }

            (host, portText) = (first, second);
        }

        int port = 0;
        if (portText is not null
            && (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port > 65535 || (!listen && port == 0)))
        {
            error = listen
                ? $"the port must be a number from 0 to 65535 (0 = any free port), not '{portText}'."
                : $"the port must be a number from 1 to 65535, not '{portText}'.";
            return false;
        }

        settings = new NcDtlsSettings(listen, host, port, certificate, key, ca, insecure, timeout, connectionId, verbosity);
        error = null;
        return true;
    }
}
