namespace Dfer.Ops.AddAct;

/// <summary>
/// Sum of 1 to 4 equal-shaped tensors followed by an activation: <c>y = act(x₀ + x₁ + …)</c>, added
/// left to right. The dense blocks of face-api's feature extractor join their branches this way
/// (<c>relu(out1 + out2 + out3)</c>); with one input it is a plain activation.
/// </summary>
public sealed class AddActOp : Op
{
    public const int MaxInputs = 4;

    public AddActOp(int inputs, Activation activation)
    {
        if (inputs < 1 || inputs > MaxInputs)
            throw new ArgumentException($"addact takes 1 to {MaxInputs} inputs, got {inputs}");
        Inputs = inputs; Act = activation;
    }

    public int Inputs { get; }
    public Activation Act { get; }

    public override OpKind Kind => AddActKind.Instance;
    public override int InputCount => Inputs;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        for (int i = 1; i < inputs.Count; i++)
            if (!inputs[i].SequenceEqual(inputs[0]))
                throw ShapeError(Kind,
                    $"inputs must have equal shapes; first is {Tensors.Tensor.FormatShape(inputs[0])}", inputs[i]);
        return (int[])inputs[0].Clone();
    }

    public override long Flops(IReadOnlyList<int[]> inputs) => Tensors.Tensor.ElementCountOf(inputs[0]) * Inputs;
}
