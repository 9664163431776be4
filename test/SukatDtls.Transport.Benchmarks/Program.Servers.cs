using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace SukatDtls.Transport.Benchmarks;

/// <summary>The servers under test: the echo sample and the OpenSSL reference.</summary>
internal static partial class Program
{
    /// <param name="EchoProgram">The echo sample: its Native AOT executable, or (<paramref name="EchoIsNative"/> false) its DLL for <c>dotnet</c>.</param>
    internal sealed record Tools(string Load, string Ref, string EchoProgram, bool EchoIsNative, string Repo, int ClkTck, bool ServerGc);

    /// <summary>A server under test: the echo sample (ours) or dtls_echo_ref, killed on dispose.</summary>
    internal sealed class Server : IDisposable
    {
        private readonly Process _p;

        private Server(Process p, bool ours, int port, Uri? status)
        {
            _p = p;
            Ours = ours;
            Port = port;
            StatusUrl = status;
        }

        public bool Ours { get; }

        public int Port { get; }

        public Uri? StatusUrl { get; }

        private Queue<string>? _stderrTail;

        public int Pid => _p.Id;

        public bool HasExited => _p.HasExited;

        public string ExitDescription()
        {
            string tail = "";
            if (_stderrTail is not null)
            {
                lock (_stderrTail)
                {
                    tail = string.Join(" | ", _stderrTail);
                }
            }

            return $"exit code {(_p.HasExited ? _p.ExitCode.ToString(Inv) : "-")}; last output: {tail}";
        }

        /// <param name="settings">Ours only: configuration overrides as environment variables (<c>Dtls__MaxConcurrentHandshakes</c>).</param>
        /// <param name="port">Ours only: the UDP port (0 = any free one), e.g. the port of a server that is being restarted.</param>
        public static Server Start(Tools t, bool ours, string cert, string key, IReadOnlyDictionary<string, string>? settings = null, int port = 0)
        {
            string certPath = Path.Combine(t.Repo, "certs", cert), keyPath = Path.Combine(t.Repo, "certs", key);
            if (ours)
            {
                var psi = new ProcessStartInfo(t.EchoIsNative ? t.EchoProgram : "dotnet")
                {
                    RedirectStandardOutput = true,
                    RedirectStandardError = true,
                    UseShellExecute = false,
                    WorkingDirectory = Path.GetDirectoryName(t.EchoProgram)!,
                };
                if (!t.EchoIsNative)
                {
                    psi.ArgumentList.Add(t.EchoProgram);
                }

                foreach (string a in new[] { "--port", port.ToString(Inv), "--status-port", "0", "--cert", certPath, "--key", keyPath })
                {
                    psi.ArgumentList.Add(a);
                }

                psi.Environment["Logging__LogLevel__Default"] = "Warning";
                if (t.ServerGc)
                {
                    psi.Environment["DOTNET_gcServer"] = "1";
                }

                foreach (var (name, value) in settings ?? new Dictionary<string, string>())
                {
                    psi.Environment[name] = value;
                }

                var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start the echo sample");
                var tail = new Queue<string>();
                p.ErrorDataReceived += (_, a) =>
                {
                    if (a.Data is not null)
                    {
                        lock (tail)
                        {
                            tail.Enqueue(a.Data);
                            if (tail.Count > 20)
                            {
                                tail.Dequeue();
                            }
                        }
                    }
                };
                p.BeginErrorReadLine();
                int bound = 0;
                Uri? status = null;
                var deadline = DateTime.UtcNow.AddSeconds(60);
                while ((bound == 0 || status is null) && DateTime.UtcNow < deadline)
                {
                    string? line = p.StandardOutput.ReadLine();
                    if (line is null)
                    {
                        break;
                    }

                    if (line.StartsWith("Hosting at: ", StringComparison.Ordinal))
                    {
                        bound = IPEndPoint.Parse(line[12..].Trim()).Port;
                    }
                    else if (line.StartsWith("Status page at: ", StringComparison.Ordinal))
                    {
                        status = new Uri(line[16..].Trim());
                    }
                }

                if (bound == 0)
                {
                    p.Kill();
                    throw new InvalidOperationException("the echo sample did not print 'Hosting at:'");
                }

                // Keep draining stdout so the server never blocks on a full pipe.
                _ = Task.Run(() =>
                {
                    while (p.StandardOutput.ReadLine() is string l)
                    {
                        lock (tail)
                        {
                            tail.Enqueue(l);
                            if (tail.Count > 20)
                            {
                                tail.Dequeue();
                            }
                        }
                    }
                });
                return new Server(p, true, bound, status) { _stderrTail = tail };
            }
            else
            {
                port = FreeUdpPort();
                var psi = new ProcessStartInfo(t.Ref) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
                psi.ArgumentList.Add(port.ToString(Inv));
                psi.ArgumentList.Add(certPath);
                psi.ArgumentList.Add(keyPath);
                var p = Process.Start(psi) ?? throw new InvalidOperationException("cannot start dtls_echo_ref");
                p.OutputDataReceived += (_, _) => { };
                p.ErrorDataReceived += (_, _) => { };
                p.BeginOutputReadLine();
                p.BeginErrorReadLine();
                Thread.Sleep(300);
                if (p.HasExited)
                {
                    throw new InvalidOperationException("dtls_echo_ref exited at start");
                }

                return new Server(p, false, port, null);
            }
        }

        internal static int FreeUdpPort()
        {
            using var s = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            return ((IPEndPoint)s.LocalEndPoint!).Port;
        }

        public void Dispose()
        {
            try
            {
                if (!_p.HasExited)
                {
                    _p.Kill();
                    _p.WaitForExit(5000);
                }
            }
            catch (InvalidOperationException)
            {
            }

            _p.Dispose();
        }
    }
}
