using System.Runtime.CompilerServices;

namespace SukatDtls.Transport.Tests.Infrastructure;

internal static class TestAssemblySetup
{
    /// <summary>
    /// The BouncyCastle test client (<see cref="TestDtlsClient"/>) and the process helpers block, and tests call them
    /// from async test methods on thread-pool threads. With several test classes running in parallel on 2 cores, that
    /// would starve the pool that the server under test runs on, and the pool adds threads only slowly. A higher
    /// minimum keeps the server's async work flowing; the product itself never blocks pool threads.
    /// </summary>
    [ModuleInitializer]
    internal static void RaiseThreadPoolMinimum()
    {
        ThreadPool.GetMinThreads(out int workers, out int completionPorts);
        ThreadPool.SetMinThreads(Math.Max(workers, 64), Math.Max(completionPorts, 64));
    }
}
