namespace Dfer.Ops.Lstm;

/// <summary>Weights of one direction of one LSTM layer, PyTorch layout: W_ih [4H, In], W_hh [4H, H], gate order i, f,
/// g, o.</summary>
public sealed record LstmCell(float[] Wih, float[] Whh, float[] Bih, float[] Bhh);

/// <summary>
/// Multi-layer (optionally bidirectional) LSTM, batch first, zero initial state (PyTorch nn.LSTM):
/// <c>i,f,o = σ(W_i x + b_i + U_i h + c_i)</c>, <c>g = tanh(...)</c>, <c>c' = f·c + i·g</c>, <c>h' =
/// o·tanh(c')</c>. [B, L, In] → [B, L, H·dirs], forward half first; layer k+1 reads layer k's output.
/// </summary>
public sealed class LstmOp : Op
{
    public LstmOp(int inputSize, int hidden, bool bidirectional, LstmCell[][] layers)
    {
        InputSize = inputSize; Hidden = hidden; Bidirectional = bidirectional; Layers = layers;
        int dirs = bidirectional ? 2 : 1;
        for (int l = 0; l < layers.Length; l++)
        {
            if (layers[l].Length != dirs)
                throw new ArgumentException($"lstm layer {l} has {layers[l].Length} directions, expected {dirs}");
            int inSize = l == 0 ? inputSize : hidden * dirs;
            foreach (var c in layers[l])
            {
                if (c.Wih.Length != 4L * hidden * inSize || c.Whh.Length != 4L * hidden * hidden
                    || c.Bih.Length != 4 * hidden || c.Bhh.Length != 4 * hidden)
                    throw new ArgumentException($"lstm layer {l} weights do not match input {inSize}, hidden {hidden}");
            }
        }
    }

    public int InputSize { get; }
    public int Hidden { get; }
    public bool Bidirectional { get; }
    public LstmCell[][] Layers { get; }
    public int Directions => Bidirectional ? 2 : 1;

    public override OpKind Kind => LstmKind.Instance;
    public override int InputCount => 1;

    public override int[] OutputShape(IReadOnlyList<int[]> inputs)
    {
        ExpectInputs(inputs);
        var x = inputs[0];
        if (x.Length != 3 || x[2] != InputSize) throw ShapeError(Kind, $"expects [B, L, {InputSize}]", x);
        return new[] { x[0], x[1], Hidden * Directions };
    }

    public override long WeightElements
        => Layers.SelectMany(l => l)
        .Sum(c => c.Wih.LongLength + c.Whh.LongLength + c.Bih.LongLength + c.Bhh.LongLength);

    public override long Flops(IReadOnlyList<int[]> inputs)
    {
        var x = inputs[0];
        long steps = (long)x[0] * x[1];
        long total = 0;
        for (int l = 0; l < Layers.Length; l++)
        {
            int inSize = l == 0 ? InputSize : Hidden * Directions;
            total += Directions * steps * 2L * 4 * Hidden * (inSize + Hidden);
        }
        return total;
    }

}
