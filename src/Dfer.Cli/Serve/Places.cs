namespace Dfer.Cli.Serve;

/// <summary>
/// A fixed number of places that requests take and give back without a lock: the server's bounds on what it holds at
/// once (requests admitted per model, gRPC messages read, requests waiting for a batch, videos waiting for a worker).
/// </summary>
internal sealed class Places(int limit)
{
    private int _taken;

    public int Limit { get; } = limit;

    /// <summary>Places taken now.</summary>
    public int Taken => Volatile.Read(ref _taken);

    /// <summary>Takes a place, or none (false) when all <see cref="Limit"/> are taken.</summary>
    public bool TryTake()
    {
        if (Interlocked.Increment(ref _taken) <= Limit) return true;
        Interlocked.Decrement(ref _taken);
        return false;
    }

    /// <summary>Gives back a place taken with <see cref="TryTake"/>.</summary>
    public void Give() => Interlocked.Decrement(ref _taken);
}
