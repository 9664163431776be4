using BenchmarkDotNet.Running;

namespace SukatDtls.Transport.MicroBenchmarks;

/// <summary>Runs the micro-benchmarks (BenchmarkDotNet's command line: <c>--filter *</c>, <c>--job short</c>, …).</summary>
internal static class Program
{
    private static void Main(string[] args) => BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
}
