using Dfer.Models;
using Dfer.Onnx;
using Dfer.Ops;
using Dfer.Weights;

namespace Dfer.Runtime;

/// <summary>
/// A model's graph as an ONNX model of standard "ai.onnx" ops (README.md, "ONNX export"): the graph
/// <see cref="IModel.Build"/> makes (BatchNorm already folded into the convolutions), walked in order,
/// each node written by its op's ONNX form (<see cref="OpKind.Onnx"/>). The input is "clips" [B, clip
/// shape...], float32; the outputs are the graph's named outputs ("logits", "probabilities" [B, classes]).
/// </summary>
public static class OnnxExport
{
    public const string InputName = "clips";
    public const int DefaultOpset = 17;

    /// <summary>The opsets written: 17 (LayerNormalization's first) to 21; 18 moved ReduceMean's axes to an
    /// input, which <see cref="OnnxGraphBuilder.Reduce"/> follows; nothing else the forms use changed
    /// meaning in that range.</summary>
    public const int MinOpset = 17, MaxOpset = 21;

    /// <summary>
    /// The ops of <paramref name="graph"/> that have no ONNX form yet, by kind name, in graph order; empty
    /// when the graph can be exported.
    /// </summary>
    public static IReadOnlyList<string> MissingForms(Graph graph) =>
        graph.Nodes.Where(n => n.Op.Kind.Onnx(n.Op) is null).Select(n => n.Op.Kind.Name).Distinct().ToList();

    /// <summary>
    /// Serialises <paramref name="model"/>'s graph built from <paramref name="weights"/> as an ONNX ModelProto.
    /// </summary>
    /// <param name="model">The model, at the frame size the file fixes.</param>
    /// <param name="weights">Its state dict (validated and folded by <see cref="IModel.Build"/>).</param>
    /// <param name="batch">The batch size the file fixes, or null for a symbolic "batch" dimension.</param>
    /// <param name="opset">The "ai.onnx" opset, <see cref="MinOpset"/> to <see cref="MaxOpset"/>.</param>
    /// <exception cref="DferException">An op has no ONNX form yet, or the opset is out of range.</exception>
    public static byte[] Write(IModel model, StateDict weights, int? batch, int opset = DefaultOpset)
    {
        CheckOpset(opset);
        var graph = model.Build(weights);
        var metadata = new Dictionary<string, string>
        {
            ["model"] = model.Name,
            ["weights"] = weights.Source,
            ["classes"] = string.Join(",", model.Classes),
        };
        return Write(graph, model.ClipShape, batch, opset, $"{model.Name} exported by dfer", metadata, model.Name);
    }

    private static void CheckOpset(int opset)
    {
        if (opset is < MinOpset or > MaxOpset)
            throw new DferException($"opset {opset}: dfer writes opsets {MinOpset} to {MaxOpset}");
    }

    /// <summary>Serialises <paramref name="graph"/> whose input is [batch, <paramref name="sampleShape"/>...].
    /// </summary>
    public static byte[] Write(Graph graph, int[] sampleShape, int? batch, int opset, string doc,
        IReadOnlyDictionary<string, string> metadata, string graphName)
    {
        CheckOpset(opset);
        if (batch is < 1) throw new DferException($"batch {batch}: give a positive batch size");
        var missing = MissingForms(graph);
        if (missing.Count > 0)
            throw new DferException(
                $"{graphName}: not exported to ONNX yet: {(missing.Count == 1 ? "op" : "ops")} "
                + $"{string.Join(", ", missing)} {(missing.Count == 1 ? "has" : "have")} no ONNX form; "
                + "nothing written");

        // Dimensions that change with the batch are the symbolic "batch" of a dynamic export.
        int[][] Shapes(int b)
        {
            try { return graph.InferShapes([b, .. sampleShape]); }
            catch (ArgumentException e) { throw new DferException($"{graphName}: {e.Message}"); }
        }
        var shapes = Shapes(batch ?? 1);
        var other = batch is null ? Shapes(2) : shapes;
        long?[] Dims(int value) =>
            shapes[value].Select((d, i) => d == other[value][i] ? (long?)d : null).ToArray();

        var builder = new OnnxGraphBuilder(opset, graphName);
        var names = new string?[graph.ValueCount];
        names[Graph.Input] = builder.Reserve(InputName);
        foreach (var (name, value) in graph.Outputs.OrderBy(o => o.Value))
            if (value != Graph.Input && names[value] is null) names[value] = builder.Reserve(name);
        foreach (var node in graph.Nodes)
        {
            builder.Scope = "";
            names[node.Output] ??= builder.Value(node.Name);
            builder.Scope = node.Name;
            var inputs = node.Inputs.Select(i => names[i]!).ToArray();
            node.Op.Kind.Onnx(node.Op)!.Emit(builder, inputs, names[node.Output]!);
        }
        builder.Scope = "";
        builder.Declare(true, InputName, Dims(Graph.Input), $"float32 clips [batch, {string.Join(", ", sampleShape)}]");
        foreach (var (name, value) in graph.Outputs)
        {
            if (names[value] != name)
                builder.Node("Identity", new[] { names[value]! }, new[] { builder.Reserve(name) });
            builder.Declare(false, name, Dims(value), $"{name} [batch, {string.Join(", ", shapes[value].Skip(1))}]");
        }
        return builder.ToModel(doc, metadata);
    }
}
