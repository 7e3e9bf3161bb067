namespace Dfer.Backends;

/// <summary>
/// One step of a lowered graph: the values it reads, the value it writes, the scratch it needs.
/// An <see cref="Alias"/> step writes nothing: its output is its first input's storage (a reshape).
/// </summary>
public sealed record PlanStep(int[] Inputs, int Output, long WorkspaceBytes = 0, bool Alias = false);

/// <summary>
/// Where every value of a lowered graph lives in one device arena, for one input shape. Values have
/// their own sizes in bytes (a backend may store some in 16 bits); a value's region returns to the
/// arena after its last reader, a step's workspace lives only during that step, and an alias shares
/// its source's region. Regions are <see cref="Alignment"/>-byte aligned, and at any step the regions
/// of the values alive then, the step's output and its workspace are pairwise disjoint: a kernel never
/// reads and writes the same bytes. Placement is best fit over the gaps, else at the end, so the arena
/// is the peak of the live set plus fragmentation, and is allocated once: nothing is allocated while
/// the graph runs.
/// </summary>
public sealed class BufferPlan
{
    /// <summary>Alignment of every region: what 16-byte vector loads and the driver's allocations give, with room to
    /// spare.</summary>
    public const int Alignment = 256;

    private readonly long[] _offset;
    private readonly long[] _workspace;

    /// <param name="valueBytes">Bytes of each value (index = value id); values no step writes and that are not
    /// <paramref name="input"/> get no region.</param>
    /// <param name="input">The value the caller writes before the first step.</param>
    /// <param name="steps">The steps in execution order.</param>
    /// <param name="outputs">Values the caller reads after the last step (kept to the end).</param>
    public BufferPlan(IReadOnlyList<long> valueBytes, int input, IReadOnlyList<PlanStep> steps,
        IEnumerable<int> outputs)
    {
        int values = valueBytes.Count;
        _offset = new long[values];
        Array.Fill(_offset, -1);
        _workspace = new long[steps.Count];
        Array.Fill(_workspace, -1);

        // An alias's storage is its source's: follow chains to the value that owns the region.
        var owner = Enumerable.Range(0, values).ToArray();
        var produced = new bool[values];
        produced[input] = true;
        foreach (PlanStep s in steps)
        {
            foreach (int v in s.Inputs)
                if (!produced[v]) throw new ArgumentException($"a step reads value {v} before any step writes it");
            if (produced[s.Output]) throw new ArgumentException($"value {s.Output} is written twice");
            produced[s.Output] = true;
            if (s.Alias) owner[s.Output] = owner[s.Inputs[0]];
        }
        var lastUse = new int[values];
        Array.Fill(lastUse, -1);
        for (int i = 0; i < steps.Count; i++)
            foreach (int v in steps[i].Inputs) lastUse[owner[v]] = Math.Max(lastUse[owner[v]], i);
        foreach (int v in outputs)
        {
            if (!produced[v]) throw new ArgumentException($"output value {v} is never written");
            lastUse[owner[v]] = int.MaxValue;
        }

        var live = new List<(long Offset, long Size)>();   // sorted by offset
        long Take(long bytes)
        {
            long size = Round(Math.Max(bytes, 1));
            long at = 0, best = -1, bestGap = long.MaxValue;
            int insert = live.Count, bestInsert = -1;
            for (int k = 0; k < live.Count; k++)
            {
                long gap = live[k].Offset - at;
                if (gap >= size && gap < bestGap)
                {
                    best = at;
                    bestGap = gap;
                    bestInsert = k;
                }
                at = live[k].Offset + live[k].Size;
            }
            if (best < 0)
            {
                best = at;
                bestInsert = insert;
            }
            live.Insert(bestInsert, (best, size));
            TotalBytes = Math.Max(TotalBytes, best + size);
            return best;
        }
        void Release(long offset) => live.RemoveAt(live.FindIndex(r => r.Offset == offset));

        _offset[input] = Take(valueBytes[input]);
        if (lastUse[input] < 0) Release(_offset[input]);   // nothing reads it; the caller still writes it
        for (int i = 0; i < steps.Count; i++)
        {
            PlanStep s = steps[i];
            int output = s.Output;
            if (owner[output] != output) _offset[output] = _offset[owner[output]];
            else _offset[output] = Take(valueBytes[output]);
            if (s.WorkspaceBytes > 0)
            {
                _workspace[i] = Take(s.WorkspaceBytes);
                Release(_workspace[i]);
            }
            // Inputs whose last reader is this step give their region back after the output and the workspace
            // were placed; an output nobody reads goes back at once.
            foreach (int v in s.Inputs.Select(v => owner[v]).Distinct())
                if (lastUse[v] == i) Release(_offset[v]);
            if (owner[output] == output && lastUse[output] < 0) Release(_offset[output]);
        }
        if (TotalBytes == 0) TotalBytes = Alignment;
    }

    /// <summary>Bytes of the arena.</summary>
    public long TotalBytes { get; private set; }

    /// <summary>Byte offset of <paramref name="value"/>'s region in the arena; -1 for a value no step writes.</summary>
    public long Offset(int value) => _offset[value];

    /// <summary>Byte offset of step <paramref name="step"/>'s workspace; -1 when it needs none.</summary>
    public long WorkspaceOffset(int step) => _workspace[step];

    private static long Round(long bytes) => (bytes + Alignment - 1) / Alignment * Alignment;

    /// <summary>The steps of <paramref name="graph"/> run node by node (a reshape is an alias), for backends that do
    /// not fuse.</summary>
    public static PlanStep[] NodeSteps(Ops.Graph graph) =>
        graph.Nodes.Select(n => new PlanStep(n.Inputs, n.Output, 0, n.Op.Kind.IsAlias)).ToArray();
}
