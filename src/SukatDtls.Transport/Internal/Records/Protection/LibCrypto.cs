using System.Runtime.InteropServices;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// The system's OpenSSL libcrypto as the classes that call it directly find it (<see cref="OpenSslEvp"/>,
/// <c>OpenSslX25519</c>, <c>OpenSslEcdsaKey</c>): by name, OpenSSL 3 before 1.1.1, where .NET itself uses OpenSSL.
/// </summary>
internal static class LibCrypto
{
    private static readonly string[] s_names = ["libcrypto.so.3", "libcrypto.so.1.1", "libcrypto.3.dylib", "libcrypto.1.1.dylib"];

    /// <summary>Each libcrypto that loads, in order of preference; none on Windows.</summary>
    /// <remarks>
    /// A library stays loaded even when its caller takes nothing from it: .NET may use it too, and unloading a libcrypto
    /// is never safe.
    /// </remarks>
    public static IEnumerable<(string Name, nint Library)> Candidates()
    {
        if (!OperatingSystem.IsLinux() && !OperatingSystem.IsMacOS() && !OperatingSystem.IsFreeBSD())
        {
            yield break;
        }

        foreach (string name in s_names)
        {
            if (NativeLibrary.TryLoad(name, out nint library))
            {
                yield return (name, library);
            }
        }
    }
}
