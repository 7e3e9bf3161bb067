namespace Dfer.Ops;

/// <summary>One op instance in a model graph, reading values by id and writing one value.</summary>
public sealed record Node(string Name, Op Op, int[] Inputs, int Output);

/// <summary>
/// A model as a list of op instances in execution order over numbered values. Value 0 is the
/// model input; shapes follow from the input shape by each op's shape inference, so one graph
/// serves every batch size.
/// </summary>
public sealed class Graph
{
    private readonly List<Node> _nodes = new();
    private int _values = 1;

    public IReadOnlyList<Node> Nodes => _nodes;
    public int ValueCount => _values;
    public const int Input = 0;

    /// <summary>Named outputs (e.g. "logits", "probabilities").</summary>
    public Dictionary<string, int> Outputs { get; } = new();

    /// <summary>Appends a node and returns the id of its output value.</summary>
    public int Add(string name, Op op, params int[] inputs)
    {
        if (inputs.Length != op.InputCount)
            throw new ArgumentException($"{name}: {op.Kind.Name} takes {op.InputCount} inputs, got {inputs.Length}");
        foreach (int v in inputs)
            if (v < 0 || v >= _values) throw new ArgumentException($"{name}: unknown value {v}");
        int id = _values++;
        _nodes.Add(new Node(name, op, inputs, id));
        return id;
    }

    /// <summary>Shape of every value for a given input shape.</summary>
    /// <summary>The nodes that read each value (index = value id), in graph order; empty for a value nothing
    /// reads.</summary>
    public List<Node>[] Readers()
    {
        var readers = new List<Node>[ValueCount];
        for (int v = 0; v < readers.Length; v++) readers[v] = new();
        foreach (Node n in Nodes)
            foreach (int v in n.Inputs) readers[v].Add(n);
        return readers;
    }

    public int[][] InferShapes(int[] inputShape)
    {
        var shapes = new int[ValueCount][];
        shapes[Input] = inputShape;
        foreach (var n in _nodes)
        {
            var ins = n.Inputs.Select(i => shapes[i]).ToArray();
            try { shapes[n.Output] = n.Op.OutputShape(ins); }
            catch (ArgumentException e) { throw new ArgumentException($"{n.Name}: {e.Message}", e); }
        }
        return shapes;
    }

    /// <summary>Total FLOPs of one pass for a given input shape.</summary>
    public long Flops(int[] inputShape)
    {
        var shapes = InferShapes(inputShape);
        return _nodes.Sum(n => n.Op.Flops(n.Inputs.Select(i => shapes[i]).ToArray()));
    }
}
