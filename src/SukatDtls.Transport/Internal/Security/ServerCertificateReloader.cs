using Microsoft.Extensions.Logging;
using Org.BouncyCastle.Tls.Crypto;
using SukatDtls.Transport.Internal.BouncyCastle;

namespace SukatDtls.Transport.Internal;

/// <summary>
/// Watches the server certificate's files and, when they change, loads them again and swaps the credentials of new
/// handshakes (<see cref="ServerCredentialsProvider"/>). Handshakes in progress keep the credentials they started with.
/// </summary>
/// <remarks>
/// <para>
/// The directories of the files are watched, not the files: a certificate is often replaced by a rename over it, or
/// (Kubernetes secrets and config maps) by swapping a <c>..data</c> symbolic link beside it. Events for the files'
/// names, for names starting with "..", and watcher errors (lost events) count as changes.
/// </para>
/// <para>
/// Changes are debounced: the files are loaded once no change came for <see cref="Delay"/>, so a certificate and key
/// written one after the other are normally read together. A load that fails (a half-written file, a certificate
/// whose new key is not written yet) keeps the current credentials and logs a warning; the next change tries again.
/// A load that yields the same certificate and chain changes nothing.
/// </para>
/// </remarks>
internal sealed class ServerCertificateReloader : IDisposable
{
    /// <summary>The quiet time after the last change before the files are loaded.</summary>
    public static readonly TimeSpan Delay = TimeSpan.FromMilliseconds(500);

    private readonly ServerCertificateSource _source;
    private readonly TlsCrypto _crypto;
    private readonly ServerCredentialsProvider _provider;
    private readonly ILogger _logger;
    private readonly ITimer _debounce;
    private readonly List<FileSystemWatcher> _watchers = [];
    private readonly HashSet<string> _fileNames;
    private readonly Lock _lock = new();
    private LoadedServerCertificate _current;
    private bool _disposed;

    public ServerCertificateReloader(ServerCertificateSource source, LoadedServerCertificate current, TlsCrypto crypto,
        ServerCredentialsProvider provider, TimeProvider timeProvider, ILogger logger)
    {
        _source = source;
        _current = current;
        _crypto = crypto;
        _provider = provider;
        _logger = logger;
        _debounce = timeProvider.CreateTimer(static state => ((ServerCertificateReloader)state!).OnQuiet(), this,
            Timeout.InfiniteTimeSpan, Timeout.InfiniteTimeSpan);

        string[] paths = source.KeyPath is null ? [source.CertificatePath] : [source.CertificatePath, source.KeyPath];
        _fileNames = new HashSet<string>(paths.Select(path => Path.GetFileName(path)), StringComparer.OrdinalIgnoreCase);
        foreach (string directory in paths.Select(path => Path.GetDirectoryName(path)!).Distinct(StringComparer.Ordinal))
        {
            Watch(directory);
        }
    }

    /// <summary>The certificate new handshakes get.</summary>
    public LoadedServerCertificate Current
    {
        get
        {
            lock (_lock)
            {
                return _current;
            }
        }
    }

    /// <summary>How many directories are watched (0: watching failed, no reload).</summary>
    public int WatchedDirectories
    {
        get
        {
            lock (_lock)
            {
                return _watchers.Count;
            }
        }
    }

    public bool IsDisposed
    {
        get
        {
            lock (_lock)
            {
                return _disposed;
            }
        }
    }

    private void Watch(string directory)
    {
        FileSystemWatcher? watcher = null;
        try
        {
            watcher = new FileSystemWatcher(directory)
            {
                IncludeSubdirectories = false,
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.DirectoryName | NotifyFilters.LastWrite | NotifyFilters.Size
                    | NotifyFilters.CreationTime,
            };
            watcher.Changed += OnFileEvent;
            watcher.Created += OnFileEvent;
            watcher.Deleted += OnFileEvent;
            watcher.Renamed += OnFileEvent;
            watcher.Error += OnWatcherError;

            // Listed first: an error event may come (and take it out again) as soon as it is enabled.
            lock (_lock)
            {
                _watchers.Add(watcher);
            }

            watcher.EnableRaisingEvents = true;
        }
        catch (Exception ex) when (ex is IOException or ArgumentException or UnauthorizedAccessException or PlatformNotSupportedException)
        {
            // E.g. the inotify instance limit (fs.inotify.max_user_instances) is reached, or the directory is gone.
            if (watcher is not null)
            {
                lock (_lock)
                {
                    _watchers.Remove(watcher);
                }

                watcher.Dispose();
            }

            DtlsCertificateLog.WatchFailed(_logger, directory, ex);
        }
    }

    private void OnFileEvent(object sender, FileSystemEventArgs e)
    {
        if (IsRelevant(e.Name) || (e is RenamedEventArgs renamed && IsRelevant(renamed.OldName)))
        {
            ScheduleReload();
        }
    }

    private bool IsRelevant(string? name) =>
        name is null || _fileNames.Contains(name) || name.StartsWith("..", StringComparison.Ordinal);

    /// <summary>
    /// The watcher lost events (its buffer overflowed: the files may have changed, so load them), or it stopped. On
    /// Linux the inotify watch limit (<c>fs.inotify.max_user_watches</c>) is reported here, not thrown when the watcher
    /// starts: the watcher then looks enabled but never raises an event again, and only this says so.
    /// </summary>
    private void OnWatcherError(object sender, ErrorEventArgs e)
    {
        var exception = e.GetException();
        if (exception is InternalBufferOverflowException)
        {
            ScheduleReload();
            return;
        }

        var watcher = (FileSystemWatcher)sender;
        lock (_lock)
        {
            if (_disposed || !_watchers.Remove(watcher))
            {
                return;
            }

            // Under the lock, as the other logs: none after Dispose returned.
            DtlsCertificateLog.WatchFailed(_logger, watcher.Path, exception);
        }

        watcher.EnableRaisingEvents = false;
        watcher.Dispose();
    }

    /// <summary>Starts (or restarts) the quiet period after which the files are loaded.</summary>
    private void ScheduleReload()
    {
        lock (_lock)
        {
            if (!_disposed)
            {
                _debounce.Change(Delay, Timeout.InfiniteTimeSpan);
            }
        }
    }

    private void OnQuiet()
    {
        // Under the lock: one load at a time, and none after Dispose returned (the logger may be gone by then).
        lock (_lock)
        {
            if (!_disposed)
            {
                Reload();
            }
        }
    }

    /// <summary>Loads the files and swaps the credentials if the certificate changed. Runs under <see cref="_lock"/>.</summary>
    private void Reload()
    {
        LoadedServerCertificate loaded;
        try
        {
            loaded = _source.Load(_crypto);
        }
        catch (Exception ex)
        {
            // Never out of a timer callback; whatever the files hold, the server goes on with what it has.
            DtlsCertificateLog.CertificateReloadFailed(_logger, _source.CertificatePath, ex.Message, _current.Thumbprint, ex);
            return;
        }

        if (loaded.Fingerprint.AsSpan().SequenceEqual(_current.Fingerprint))
        {
            DtlsCertificateLog.CertificateUnchanged(_logger, _current.Thumbprint);
            return;
        }

        var previous = _current;
        _provider.Replace(loaded.Credentials);
        _current = loaded;
        DtlsCertificateLog.CertificateReloaded(_logger, _source.CertificatePath, loaded.Subject, loaded.Thumbprint, loaded.NotAfter, previous.Thumbprint);
    }

    public void Dispose()
    {
        FileSystemWatcher[] watchers;
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
            _debounce.Dispose();
            watchers = [.. _watchers];
            _watchers.Clear();
        }

        foreach (var watcher in watchers)
        {
            watcher.EnableRaisingEvents = false;
            watcher.Dispose();
        }
    }
}
