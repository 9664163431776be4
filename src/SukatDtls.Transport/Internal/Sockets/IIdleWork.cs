namespace SukatDtls.Transport.Internal;

/// <summary>Work a receive loop runs when it runs out of events (<see cref="PeerReceiveLoop.RunWhenIdle"/>).</summary>
internal interface IIdleWork
{
    /// <summary>Runs on the loop's thread; reports its own failures (what it throws is dropped).</summary>
    void RunWhenIdle(object state);
}
