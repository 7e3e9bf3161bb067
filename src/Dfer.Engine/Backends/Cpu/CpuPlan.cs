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
            if (n.Op.Kind == OpKind.Reshape && IsZero(halo[n.Inputs[0]]) && IsZero(halo[n.Output]))
                root[n.Output] = root[n.Inputs[0]];
        var lastUse = new int[count];
        Array.Fill(lastUse, -1);
        for (int i = 0; i < nodes.Count; i++)
            foreach (int v in nodes[i].Inputs) lastUse[root[v]] = Math.Max(lastUse[root[v]], i);
        foreach (int v in graph.Outputs.Values) lastUse[root[v]] = int.MaxValue;
        lastUse[Graph.Input] = int.MaxValue;

        Values = new Tensor[count];
        var free = new Dictionary<string, Stack<Tensor>>();
        Values[Graph.Input] = Allocate(Shapes[Graph.Input], halo[Graph.Input], free);
        for (int i = 0; i < nodes.Count; i++)
        {
            var n = nodes[i];
            int o = n.Output;
            Values[o] = root[o] != o ? Values[root[o]].Reshape(Shapes[o]) : Allocate(Shapes[o], halo[o], free);
            foreach (int v in n.Inputs.Append(o).Distinct())
            {
                int r = root[v];
                if (r == v && lastUse[r] <= i && lastUse[r] != int.MaxValue)
                {
                    string key = Key(Shapes[r], halo[r]);
                    if (!free.TryGetValue(key, out var stack)) free[key] = stack = new Stack<Tensor>();
                    if (!stack.Contains(Values[r])) stack.Push(Values[r]);
                }
            }
        }
    }

    public int[] InputShape { get; }
    public int[][] Shapes { get; }
    public Tensor[] Values { get; }

    private Tensor Allocate(int[] shape, int[] halo, Dictionary<string, Stack<Tensor>> free)
    {
        if (free.TryGetValue(Key(shape, halo), out var stack) && stack.Count > 0) return stack.Pop();
        var t = Tensor.ZerosWithHalo(shape, halo);
        _buffers.Add(t.Storage);
        return t;
    }

    private static bool IsZero(int[] h) => h.All(x => x == 0);
    private static string Key(int[] shape, int[] halo) => string.Join(",", shape) + "|" + string.Join(",", halo);

    public void Dispose()
    {
        foreach (var b in _buffers) b.Dispose();
    }
}
