using System.Runtime.InteropServices;

namespace SukatDtls.Samples.NcDtls;

/// <summary>
/// SIGINT (Ctrl-C) and SIGTERM as a cancellation: the first one lets the program close its DTLS sessions
/// (close_notify) and exit with 128 + the signal number; a second one terminates at once, as usual.
/// </summary>
internal sealed class TerminationSignals : IDisposable
{
    private readonly CancellationTokenSource _source = new();
    private readonly TaskCompletionSource _received = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly PosixSignalRegistration _interrupt;
    private readonly PosixSignalRegistration _terminate;
    private int _signalNumber;

    public TerminationSignals()
    {
        _interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
        _terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
    }

    /// <summary>Cancelled by the first SIGINT or SIGTERM.</summary>
    public CancellationToken Token => _source.Token;

    /// <summary>Completes on the first SIGINT or SIGTERM.</summary>
    public Task Received => _received.Task;

    public bool IsReceived => Volatile.Read(ref _signalNumber) != 0;

    /// <summary>The exit code of a program ended by the signal: 130 for SIGINT, 143 for SIGTERM.</summary>
    public int ExitCode => 128 + Volatile.Read(ref _signalNumber);

    /// <summary>The name of the signal received, for the log.</summary>
    public string Name => Volatile.Read(ref _signalNumber) == 15 ? "SIGTERM" : "SIGINT";

    private void OnSignal(PosixSignalContext context)
    {
        int number = context.Signal == PosixSignal.SIGTERM ? 15 : 2;
        if (Interlocked.CompareExchange(ref _signalNumber, number, 0) != 0)
        {
            // The second signal: default action (terminate now).
            return;
        }

        context.Cancel = true;
        _received.TrySetResult();
        _source.Cancel();
    }

    public void Dispose()
    {
        _interrupt.Dispose();
        _terminate.Dispose();
        _source.Dispose();
    }
}
