using Dfer.Devices.Cpu;
using Dfer.Devices.Ilgpu;
using Dfer.Onnx;
using Dfer.Tensors;

namespace Dfer.Ops.AddAct;

/// <summary>The addact op's declaration: its name, cases, Reference and kernels (docs/architecture.md, "The op
/// contract").</summary>
public sealed class AddActKind : OpKind<AddActOp>
{
    public static AddActKind Instance { get; } = new();

    private AddActKind() { }

    public override string Name => "addact";

    protected override double[] RunReference(AddActOp op, IReadOnlyList<double[]> x, IReadOnlyList<int[]> shapes) =>
        AddActReference.Run(op, x);

    protected override ICpuKernel CpuKernel(AddActOp op) => new AddActCpu(op);

    protected override IOnnxForm? OnnxForm(AddActOp op) => new AddActOnnx(op);

    protected override IIlgpuKernel IlgpuKernel(IlgpuDevice device, AddActOp op) => new AddActIlgpu(op);

    public override IReadOnlyList<OpCase> Cases(DeterministicRandom rng) => new (int[] s, int inputs, Activation act)[]
        {
            (new[] { 1 }, 1, Activation.Relu),
            (new[] { 3, 5, 7 }, 2, Activation.Leaky),
            (new[] { 2, 13, 11, 37 }, 3, Activation.None),
            (new[] { 1, 56, 56, 32 }, 4, Activation.Relu),
            (new[] { 1, 414, 414, 16 }, 1, Activation.Leaky),
            (new[] { 2, 9, 13, 5 }, 2, Activation.Relu6),
            (new[] { 1, 32, 32, 512 }, 1, Activation.Relu6),
            // RDFER's heads (docs/models/rdfer.md, step 3): tanh and −|x| on [B, 4], sigmoid on [B, 1024]; odd
            // sizes past a vector's width with two inputs.
            (new[] { 2, 4 }, 1, Activation.Tanh),
            (new[] { 3, 4 }, 1, Activation.NegAbs),
            (new[] { 2, 1024 }, 1, Activation.Sigmoid),
            (new[] { 3, 37 }, 2, Activation.Tanh),
            (new[] { 5, 19 }, 2, Activation.Sigmoid),
            (new[] { 2, 29 }, 3, Activation.NegAbs),
        }
        .Select(c => new OpCase($"addact({string.Join("x", c.s)},inputs={c.inputs}{ActivationMath.Suffix(c.act)})",
        new AddActOp(c.inputs, c.act),
            Enumerable.Repeat(c.s, c.inputs).Select(s => (int[])s.Clone()).ToArray(),
            // ReLU6's inputs reach past both ends of its range, the smooth ones' into their saturation.
            c.act is Activation.Relu6 or Activation.Tanh or Activation.Sigmoid or Activation.NegAbs
                ? Enumerable.Repeat((-8f, 8f), c.inputs).ToArray() : null)).ToArray();
}
