using System.Runtime.InteropServices;
using Dfer.Onnx.Proto;
using Google.Protobuf;

namespace Dfer.Onnx;

/// <summary>
/// The ONNX form of one op instance (an op folder's <c>&lt;Op&gt;.Onnx.cs</c>): standard ONNX nodes and
/// initializers that compute exactly the op's documented formula, its Reference being the specification.
/// </summary>
public interface IOnnxForm
{
    /// <summary>Appends the op's nodes to <paramref name="graph"/>, reading the values named
    /// <paramref name="inputs"/> and writing the value named <paramref name="output"/>.</summary>
    void Emit(OnnxGraphBuilder graph, IReadOnlyList<string> inputs, string output);
}

/// <summary>A node attribute: an integer, a list of integers, a float or a string.</summary>
public sealed class OnnxAttribute
{
    private OnnxAttribute(AttributeProto proto) { Proto = proto; }

    internal AttributeProto Proto { get; }

    public static OnnxAttribute Int(string name, long value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Int, I = value });

    public static OnnxAttribute Ints(string name, params long[] values)
    {
        var a = new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Ints };
        a.Ints.AddRange(values);
        return new(a);
    }

    public static OnnxAttribute Float(string name, float value) =>
        new(new AttributeProto { Name = name, Type = AttributeProto.Types.AttributeType.Float, F = value });

    public static OnnxAttribute String(string name, string value) => new(new AttributeProto
    {
        Name = name,
        Type = AttributeProto.Types.AttributeType.String,
        S = ByteString.CopyFromUtf8(value),
    });
}

/// <summary>
/// Builds one ONNX graph (default "ai.onnx" domain, one opset): values, float32 and int64 initializers,
/// nodes in execution order, inputs and outputs; <see cref="ToModel"/> serialises it as a ModelProto
/// (Onnx/onnx_subset.proto). Names made inside an op's form are prefixed by <see cref="Scope"/> (the Dfer
/// node's name) and made unique, so two op instances never collide.
/// </summary>
public sealed class OnnxGraphBuilder
{
    /// <summary>The IR version written: IR 8 is the first that carries opset 17.</summary>
    public const long IrVersion = 8;

    private readonly GraphProto _graph = new();
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private int _nodes;

    public OnnxGraphBuilder(int opset, string graphName)
    {
        Opset = opset;
        _graph.Name = graphName;
    }

    /// <summary>The "ai.onnx" opset the nodes are written for.</summary>
    public int Opset { get; }

    /// <summary>Prefix of the names the next op's form creates (its Dfer node's name).</summary>
    public string Scope { get; set; } = "";

    /// <summary>Reserves <paramref name="name"/> as it is (graph inputs and outputs, op outputs).</summary>
    public string Reserve(string name)
    {
        if (!_names.Add(name)) throw new InvalidOperationException($"onnx: value {name} is defined twice");
        return name;
    }

    /// <summary>A fresh value name <c>Scope/local</c> (suffixed with a number if taken).</summary>
    public string Value(string local)
    {
        string stem = Scope.Length == 0 ? local : $"{Scope}/{local}", name = stem;
        for (int k = 1; !_names.Add(name); k++) name = $"{stem}_{k}";
        return name;
    }

    /// <summary>A float32 initializer of shape <paramref name="dims"/> holding <paramref name="data"/>.</summary>
    public string Floats(string local, ReadOnlySpan<float> data, params long[] dims)
    {
        long count = dims.Aggregate(1L, (a, b) => a * b);
        if (count != data.Length)
            throw new ArgumentException($"onnx initializer {local}: {data.Length} values for {count} elements");
        return Initializer(local, TensorProto.Types.DataType.Float, MemoryMarshal.AsBytes(data), dims);
    }

    /// <summary>A float32 scalar initializer (shape []).</summary>
    public string Scalar(string local, float value) => Floats(local, new[] { value });

    /// <summary>A 1-D int64 initializer (shapes, axes).</summary>
    public string Int64s(string local, params long[] values) =>
        Initializer(local, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(values.AsSpan()), values.Length);

    /// <summary>ONNX's DOUBLE element type (TensorProto.DataType 11; onnx_subset.proto names only FLOAT and
    /// INT64).</summary>
    public const int DoubleType = 11;

    /// <summary>A float64 scalar initializer (shape []), for index arithmetic done in double.</summary>
    public string DoubleScalar(string local, double value) =>
        Initializer(local, (TensorProto.Types.DataType)DoubleType, MemoryMarshal.AsBytes(new[] { value }.AsSpan()));

    /// <summary>An int64 scalar initializer (shape []), e.g. a Gather index that drops its axis.</summary>
    public string Int64Scalar(string local, long value) =>
        Initializer(local, TensorProto.Types.DataType.Int64, MemoryMarshal.AsBytes(new[] { value }.AsSpan()));

    private string Initializer(string local, TensorProto.Types.DataType type, ReadOnlySpan<byte> bytes,
        params long[] dims)
    {
        if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("onnx export needs little-endian");
        var t = new TensorProto { Name = Value(local), DataType = (int)type, RawData = ByteString.CopyFrom(bytes) };
        t.Dims.AddRange(dims);
        _graph.Initializer.Add(t);
        return t.Name;
    }

    /// <summary>Appends a node writing the given (already named) outputs.</summary>
    public void Node(string opType, string[] inputs, string[] outputs, params OnnxAttribute[] attributes)
    {
        string name = $"{(Scope.Length == 0 ? "" : Scope + "/")}{opType}_{_nodes++}";
        var n = new NodeProto { OpType = opType, Name = name };
        n.Input.AddRange(inputs);
        n.Output.AddRange(outputs);
        n.Attribute.AddRange(attributes.Select(a => a.Proto));
        _graph.Node.Add(n);
    }

    /// <summary>Appends a node writing one fresh value named <c>Scope/local</c> and returns its name.</summary>
    public string Node(string opType, string local, string[] inputs, params OnnxAttribute[] attributes)
    {
        string output = Value(local);
        Node(opType, inputs, new[] { output }, attributes);
        return output;
    }

    /// <summary>
    /// Reshape to <paramref name="shape"/> with Dfer's view semantics: one −1 inferred, every other
    /// dimension literal (a 0 is an empty dimension, so allowzero is set where one appears, where ONNX's
    /// default would copy the input's dimension).
    /// </summary>
    public void Reshape(string input, IReadOnlyList<int> shape, string output)
    {
        var target = Int64s("shape", shape.Select(d => (long)d).ToArray());
        if (shape.Contains(0))
            Node("Reshape", new[] { input, target }, new[] { output }, OnnxAttribute.Int("allowzero", 1));
        else Node("Reshape", new[] { input, target }, new[] { output });
    }

    /// <summary>
    /// ReduceMean or ReduceSum over <paramref name="axes"/>, written for the opset: ReduceSum takes its axes
    /// as an input from opset 13, ReduceMean from opset 18 (an attribute before).
    /// </summary>
    public void Reduce(string opType, string input, long[] axes, bool keepDims, string output)
    {
        var keep = OnnxAttribute.Int("keepdims", keepDims ? 1 : 0);
        bool axesInput = opType == "ReduceSum" ? Opset >= 13 : Opset >= 18;
        if (axesInput) Node(opType, new[] { input, Int64s("axes", axes) }, new[] { output }, keep);
        else Node(opType, new[] { input }, new[] { output }, keep, OnnxAttribute.Ints("axes", axes));
    }

    /// <summary>Declares a float32 graph input or output; a null dimension is the symbolic "batch".</summary>
    public void Declare(bool input, string name, IReadOnlyList<long?> dims, string doc)
    {
        var shape = new TensorShapeProto();
        foreach (long? d in dims)
            shape.Dim.Add(d is long v
                ? new TensorShapeProto.Types.Dimension { DimValue = v }
                : new TensorShapeProto.Types.Dimension { DimParam = "batch" });
        var info = new ValueInfoProto
        {
            Name = name,
            DocString = doc,
            Type = new TypeProto
            {
                TensorType = new TypeProto.Types.Tensor
                {
                    ElemType = (int)TensorProto.Types.DataType.Float,
                    Shape = shape,
                },
            },
        };
        (input ? _graph.Input : _graph.Output).Add(info);
    }

    /// <summary>The graph as a serialised ModelProto.</summary>
    public byte[] ToModel(string docString, IReadOnlyDictionary<string, string> metadata)
    {
        var model = new ModelProto
        {
            IrVersion = IrVersion,
            ProducerName = "dfer",
            ProducerVersion = typeof(OnnxGraphBuilder).Assembly.GetName().Version?.ToString() ?? "0",
            DocString = docString,
            Graph = _graph,
        };
        model.OpsetImport.Add(new OperatorSetIdProto { Domain = "", Version = Opset });
        foreach (var (k, v) in metadata) model.MetadataProps.Add(new StringStringEntryProto { Key = k, Value = v });
        return model.ToByteArray();
    }

    // Helpers of RDFER's forms (addact, gate, keysample, framegather, temporalshift).

    /// <summary>
    /// <paramref name="act"/> (<see cref="Ops.Activation"/>) of <paramref name="input"/> into
    /// <paramref name="output"/>: Identity, Relu, LeakyRelu (α = 0.1), Clip to [0, 6], Tanh, Sigmoid, or Neg of Abs.
    /// </summary>
    public void Activate(Ops.Activation act, string input, string output)
    {
        switch (act)
        {
            case Ops.Activation.None: Node("Identity", new[] { input }, new[] { output }); break;
            case Ops.Activation.Relu: Node("Relu", new[] { input }, new[] { output }); break;
            case Ops.Activation.Leaky:
                Node("LeakyRelu", new[] { input }, new[] { output },
                    OnnxAttribute.Float("alpha", Ops.ActivationMath.LeakySlope));
                break;
            case Ops.Activation.Relu6:
                Node("Clip", new[] { input, Scalar("zero", 0f), Scalar("cap", Ops.ActivationMath.Relu6Cap) },
                    new[] { output });
                break;
            case Ops.Activation.Tanh: Node("Tanh", new[] { input }, new[] { output }); break;
            case Ops.Activation.Sigmoid: Node("Sigmoid", new[] { input }, new[] { output }); break;
            case Ops.Activation.NegAbs:
                Node("Neg", new[] { Node("Abs", "abs", new[] { input }) }, new[] { output });
                break;
            default: throw new ArgumentOutOfRangeException(nameof(act), act, "no ONNX form for this activation");
        }
    }

    /// <summary>Dimensions <paramref name="start"/> to <paramref name="end"/> (exclusive; null: to the last, negative:
    /// from the end) of <paramref name="input"/>'s shape as a 1-D int64 value (Shape's start and end, opset 15 on),
    /// for forms whose op does not know its input's shape.</summary>
    public string ShapeOf(string input, long start = 0, long? end = null) =>
        end is long e
            ? Node("Shape", "shape", new[] { input }, OnnxAttribute.Int("start", start), OnnxAttribute.Int("end", e))
            : Node("Shape", "shape", new[] { input }, OnnxAttribute.Int("start", start));

    /// <summary>
    /// ONNX's own Reshape of <paramref name="input"/> to the int64 shape value <paramref name="shape"/> (a 0 copies
    /// the input's dimension, a −1 is inferred): for shapes made from <see cref="ShapeOf"/> or that copy the batch,
    /// unlike <see cref="Reshape"/>'s literal ones.
    /// </summary>
    public string ReshapeTo(string input, string shape, string local = "reshaped") =>
        Node("Reshape", local, new[] { input, shape });

    /// <summary>Float32 zeros of <paramref name="like"/>'s shape (ConstantOfShape's default value), exact whatever
    /// <paramref name="like"/> holds (a product by 0 would keep NaN and infinities).</summary>
    public string ZerosLike(string like) => Node("ConstantOfShape", "zeros", new[] { ShapeOf(like) });
}
