using System.CommandLine;
using Microsoft.Extensions.Logging;
using SukatDtls.Samples.NcDtls;

// nc-dtls: netcat over DTLS 1.2, the C# port of sukat_dtls's nc_dtls. `nc-dtls --help` tells the rest.
var commandLine = new NcDtlsCommandLine();
commandLine.Command.SetAction((parseResult, _) => RunAsync(commandLine.GetSettings(parseResult)));
var parsed = commandLine.Command.Parse(args);
if (parsed.Errors.Count > 0)
{
    // Usage errors: what is wrong, the usage, exit code 2 (System.CommandLine's own handler would exit 1).
    foreach (string message in parsed.Errors.Select(error => error.Message).Distinct())
    {
        Console.Error.WriteLine($"{NcDtlsCommandLine.Name}: {message}");
    }

    Console.Error.WriteLine(NcDtlsCommandLine.Usage);
    Console.Error.WriteLine($"Try '{NcDtlsCommandLine.Name} --help' for more information.");
    return 2;
}

// Signals are ours (TerminationSignals), and so are exceptions: no handler of System.CommandLine prints a stack trace.
return await parsed.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null, EnableDefaultExceptionHandler = false });

static async Task<int> RunAsync(NcDtlsSettings settings)
{
    using var signals = new TerminationSignals();
    using var stdout = new StandardOutput(withHeader: settings.Listen);
    using var loggerProvider = new StderrLoggerProvider(settings.Verbosity);
    try
    {
        if (settings.Listen)
        {
            return await ListenMode.RunAsync(settings, loggerProvider, stdout, signals);
        }

        using var loggerFactory = LoggerFactory.Create(logging => logging.SetMinimumLevel(LogLevel.Trace).AddProvider(loggerProvider));
        return await ClientMode.RunAsync(settings, loggerFactory, stdout, signals);
    }
    catch (NcDtlsException ex)
    {
        await Console.Error.WriteLineAsync($"{NcDtlsCommandLine.Name}: {ex.Message}");
        return 1;
    }
#pragma warning disable CA1031 // The last resort: one line instead of a stack trace (-vvv shows it).
    catch (Exception ex)
#pragma warning restore CA1031
    {
        await Console.Error.WriteLineAsync($"{NcDtlsCommandLine.Name}: unexpected error: {ex.GetType().Name}: {ex.Message}");
        if (settings.Verbosity >= 3)
        {
            await Console.Error.WriteLineAsync(ex.ToString());
        }

        return 1;
    }
}
