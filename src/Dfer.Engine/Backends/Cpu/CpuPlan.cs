using Dfer.Devices.Cpu;
using Dfer.Ops;
using Dfer.Tensors;

namespace Dfer.Backends.Cpu;

/// <summary>
/// Memory for one input shape: every value gets a tensor, with the zero halo its consumers want.
/// Buffers are reused once a value is dead, but only between values of the identical padded
/// layout: kernels write interiors only, so a reused buffer's halo is still zero.
/// </summary>
internal sealed class CpuPlan : IDisposable
{
    private readonly List<NativeBuffer> _buffers = new();

    public CpuPlan(Graph graph, ICpuKernel[] kernels, int[] inputShape)
    {
        InputShape = (int[])inputShape.Clone();
        Shapes = graph.InferShapes(InputShape);
        int count = graph.ValueCount;
        var halo = new int[count][];
        for (int v = 0; v < count; v++) halo[v] = new int[Shapes[v].Length];
        var nodes = graph.Nodes;
        for (int i = 0; i < nodes.Count; i++)
            for (int j = 0; j < nodes[i].Inputs.Length; j++)
            {
                var want = kernels[i].InputHalo(j);
                if (want == null) continue;
                var h = halo[nodes[i].Inputs[j]];
                for (int d = 0; d < h.Length; d++) h[d] = Math.Max(h[d], want[d]);
            }

        // A dense reshape of a dense value shares its memory; the shared buffer lives as long as any alias.
        var root = Enumerable.Range(0, count).ToArray();
        foreach (var n in nodes)
            if (n.Op.Kind.IsAlias && IsZero(halo[n.Inputs[0]]) && IsZero(halo[n.Output]))
                root[n.Output] = root[n.Inputs[0]];
        var lastUse = new int[count];
        Array.Fill(lastUse, -1);
        for (int i = 0; i < nodes.Count; i++)
            foreach (int v in nodes[i].Inputs) lastUse[root[v]] = Math.Max(lastUse[root[v]], i);
        foreach (int v in graph.Outputs.Values) lastUse[root[v]] = int.MaxValue;
        lastUse[Graph.Input] = int.MaxValue;

        // First give every value a slot (a buffer it shares with dead values of the same padded
        // layout), then check the slots against the memory budget before allocating any of them: a
        // batch too large for the machine is refused at once, not after gigabytes have been zeroed.
        var slots = new List<(int[] Shape, int[] Halo)>();
        var slotOf = new int[count];
        var free = new Dictionary<string, Stack<int>>();
        int Slot(int v)
        {
            string key = Key(Shapes[v], halo[v]);
            if (free.TryGetValue(key, out var stack) && stack.Count > 0) return stack.Pop();
            slots.Add((Shapes[v], halo[v]));
            return slots.Count - 1;
        }
        slotOf[Graph.Input] = Slot(Graph.Input);
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            int o = n.Output;
            slotOf[o] = root[o] != o ? slotOf[root[o]] : Slot(o);
            foreach (int v in n.Inputs.Append(o).Distinct())
            {
                int r = root[v];
                if (r == v && lastUse[r] <= i && lastUse[r] != int.MaxValue)
                {
                    string key = Key(Shapes[r], halo[r]);
                    if (!free.TryGetValue(key, out var stack)) free[key] = stack = new Stack<int>();
                    if (!stack.Contains(slotOf[r])) stack.Push(slotOf[r]);
                }
            }
        }
        long planned = slots.Sum(
            slot => Tensor.ElementCountOf(slot.Shape.Zip(slot.Halo, (d, h) => d + 2 * h).ToArray()) * sizeof(float));
        NativeBuffer.CheckBudget(planned);

        var tensors = new Tensor[slots.Count];
        try
        {
            for (int k = 0; k < slots.Count; k++)
            {
                tensors[k] = Tensor.ZerosWithHalo(slots[k].Shape, slots[k].Halo);
                _buffers.Add(tensors[k].Storage);
            }
        }
        catch
        {
            Dispose();
            throw;
        }
        Values = new Tensor[count];
        Values[Graph.Input] = tensors[slotOf[Graph.Input]];
        foreach (var n in nodes)
            Values[n.Output] = root[n.Output] != n.Output ? Values[root[n.Output]].Reshape(Shapes[n.Output])
                : tensors[slotOf[n.Output]];
    }

    public int[] InputShape { get; }
    public int[][] Shapes { get; }
    public Tensor[] Values { get; }

    private static bool IsZero(int[] h) => h.All(x => x == 0);
    private static string Key(int[] shape, int[] halo) => string.Join(",", shape) + "|" + string.Join(",", halo);

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}
