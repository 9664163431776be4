using System.Collections.Frozen;
using System.Reflection;
using Org.BouncyCastle.Tls;

namespace SukatDtls.Transport.Internal.BouncyCastle;

/// <summary>IANA names of cipher suites, read once from BouncyCastle's <see cref="CipherSuite"/> constants.</summary>
internal static class CipherSuiteNames
{
    private static readonly FrozenDictionary<int, string> s_names = typeof(CipherSuite)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Where(field => field.IsLiteral && field.FieldType == typeof(int) && field.Name.StartsWith("TLS_", StringComparison.Ordinal))
        .GroupBy(field => (int)field.GetRawConstantValue()!)
        .ToFrozenDictionary(group => group.Key, group => group.First().Name);

    public static string Get(int cipherSuite) =>
        s_names.TryGetValue(cipherSuite, out var name) ? name : $"0x{cipherSuite:X4}";
}
