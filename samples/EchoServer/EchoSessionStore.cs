namespace SukatDtls.Samples.EchoServer;

/// <summary>Where the echo server keeps its sessions, as the status page shows it.</summary>
/// <param name="Description"><c>memory</c>, or <c>redis HOST:PORT</c>.</param>
public sealed record EchoSessionStore(string Description)
{
    public static EchoSessionStore Memory { get; } = new("memory");

    /// <summary>
    /// The session-encryption key of appsettings.json, there so that two echo servers on one machine share sessions
    /// with nothing but the connection string set. Public, so for development only: the server warns when it runs with it.
    /// </summary>
    public const string DevelopmentKey = "6465762d6f6e6c792d6b65792d6f662d7468652d6563686f2d73616d706c6521";
}
