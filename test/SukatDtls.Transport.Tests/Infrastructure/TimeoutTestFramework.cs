using System.Reflection;
using Xunit.Sdk;

[assembly: TestFramework("SukatDtls.Transport.Tests.Infrastructure.TimeoutTestFramework", "SukatDtls.Transport.Tests")]

namespace SukatDtls.Transport.Tests.Infrastructure;

/// <summary>
/// xunit's own framework, with one change: every asynchronous test that sets no <c>Timeout</c> of its own gets
/// <see cref="DefaultTimeoutMillis"/>, so an await that never completes fails that test (with xunit's
/// "Test execution timed out") instead of hanging the run. xunit supports timeouts on async tests only; a synchronous
/// test that blocks is caught by the run's <c>--blame-hang-timeout</c> (.ci/run), which names it. A test that needs
/// longer sets <c>[Fact(Timeout = …)]</c> itself.
/// </summary>
public sealed class TimeoutTestFramework(IMessageSink messageSink) : XunitTestFramework(messageSink)
{
    /// <summary>Generous: the slowest test takes about 40 s on a loaded 2-core machine.</summary>
    public const int DefaultTimeoutMillis = 120_000;

    protected override ITestFrameworkDiscoverer CreateDiscoverer(IAssemblyInfo assemblyInfo) =>
        new Discoverer(assemblyInfo, SourceInformationProvider, DiagnosticMessageSink);

    private sealed class Discoverer(IAssemblyInfo assemblyInfo, ISourceInformationProvider sourceProvider, IMessageSink diagnosticMessageSink)
        : XunitTestFrameworkDiscoverer(assemblyInfo, sourceProvider, diagnosticMessageSink)
    {
        private readonly TimeoutFactDiscoverer _facts = new(diagnosticMessageSink);
        private readonly TimeoutTheoryDiscoverer _theories = new(diagnosticMessageSink);

        /// <summary>Plain [Fact] and [Theory] go to the discoverers below; anything else (several attributes, custom ones) as xunit does it.</summary>
        protected override bool FindTestsForMethod(ITestMethod testMethod, bool includeSourceInformation, IMessageBus messageBus,
            ITestFrameworkDiscoveryOptions discoveryOptions)
        {
            var attributes = testMethod.Method.GetCustomAttributes(typeof(FactAttribute)).ToList();
            var type = attributes.Count == 1 ? (attributes[0] as IReflectionAttributeInfo)?.Attribute.GetType() : null;
            IXunitTestCaseDiscoverer? discoverer = type == typeof(FactAttribute) ? _facts : type == typeof(TheoryAttribute) ? _theories : null;
            if (discoverer is null)
            {
                return base.FindTestsForMethod(testMethod, includeSourceInformation, messageBus, discoveryOptions);
            }

            foreach (var testCase in discoverer.Discover(discoveryOptions, testMethod, attributes[0]))
            {
                if (!ReportDiscoveredTestCase(testCase, includeSourceInformation, messageBus))
                {
                    return false;
                }
            }

            return true;
        }
    }

    internal static int TimeoutFor(ITestMethod testMethod, int declared)
    {
        if (declared > 0)
        {
            return declared;
        }

        var returnType = testMethod.Method.ToRuntimeMethod()?.ReturnType;
        bool isAsync = returnType is not null && (typeof(Task).IsAssignableFrom(returnType) || returnType == typeof(ValueTask));
        return isAsync ? DefaultTimeoutMillis : 0;
    }

    private sealed class TimeoutFactDiscoverer(IMessageSink diagnosticMessageSink) : FactDiscoverer(diagnosticMessageSink)
    {
        protected override IXunitTestCase CreateTestCase(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod, IAttributeInfo factAttribute) =>
            new TimeoutTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod);
    }

    private sealed class TimeoutTheoryDiscoverer(IMessageSink diagnosticMessageSink) : TheoryDiscoverer(diagnosticMessageSink)
    {
        protected override IEnumerable<IXunitTestCase> CreateTestCasesForDataRow(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod,
            IAttributeInfo theoryAttribute, object[] dataRow) =>
            [new TimeoutTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod, dataRow)];

        protected override IEnumerable<IXunitTestCase> CreateTestCasesForTheory(ITestFrameworkDiscoveryOptions discoveryOptions, ITestMethod testMethod,
            IAttributeInfo theoryAttribute) =>
            [new TimeoutTheoryTestCase(DiagnosticMessageSink, discoveryOptions.MethodDisplayOrDefault(), discoveryOptions.MethodDisplayOptionsOrDefault(), testMethod)];
    }
}

/// <summary>A fact (or one data row of a theory) with the default timeout when it sets none.</summary>
public sealed class TimeoutTestCase : XunitTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public TimeoutTestCase()
    {
    }

    public TimeoutTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions,
        ITestMethod testMethod, object[]? testMethodArguments = null)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod, testMethodArguments)
    {
    }

    protected override int GetTimeout(IAttributeInfo factAttribute) => TimeoutTestFramework.TimeoutFor(TestMethod, base.GetTimeout(factAttribute));
}

/// <summary>A theory whose data is enumerated at run time, with the default timeout for each row when it sets none.</summary>
public sealed class TimeoutTheoryTestCase : XunitTheoryTestCase
{
    [Obsolete("Called by the de-serializer; should only be called by deriving classes for de-serialization purposes")]
    public TimeoutTheoryTestCase()
    {
    }

    public TimeoutTheoryTestCase(IMessageSink diagnosticMessageSink, TestMethodDisplay defaultMethodDisplay, TestMethodDisplayOptions defaultMethodDisplayOptions,
        ITestMethod testMethod)
        : base(diagnosticMessageSink, defaultMethodDisplay, defaultMethodDisplayOptions, testMethod)
    {
    }

    protected override int GetTimeout(IAttributeInfo factAttribute) => TimeoutTestFramework.TimeoutFor(TestMethod, base.GetTimeout(factAttribute));
}
