using Dfer.Reference;
using TorchSharp;
using static Dfer.Reference.TorchTensors;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;
using TTensor = TorchSharp.torch.Tensor;

namespace Dfer.Ops.Lstm;

/// <summary>
/// the LSTM as <c>nn.LSTM</c> (batch-first) with the op's weights copied into its parameters.
/// Compiled into Dfer.Reference only (the engine does not carry libtorch): the PyTorch oracle of the op.
/// </summary>
internal sealed class LstmTorch : TorchOp<LstmOp>
{
    protected override TTensor Run(LstmOp l, TTensor[] x)
    {
        using var lstm = nn.LSTM(l.InputSize, l.Hidden, l.Layers.Length, batchFirst: true,
            bidirectional: l.Bidirectional, dtype: ScalarType.Float64);
        lstm.to(ScalarType.Float64);
        var parameters = lstm.named_parameters().ToDictionary(p => p.name, p => p.parameter);
        if (parameters.Values.Any(p => p.dtype != ScalarType.Float64))
            throw new InvalidOperationException("LSTM parameters must be float64");
        for (int layer = 0; layer < l.Layers.Length; layer++)
            for (int d = 0; d < l.Directions; d++)
            {
                var cell = l.Layers[layer][d];
                string sfx = $"l{layer}{(d == 1 ? "_reverse" : "")}";
                parameters[$"weight_ih_{sfx}"].copy_(W(cell.Wih, 4 * l.Hidden, cell.Wih.Length / (4 * l.Hidden)));
                parameters[$"weight_hh_{sfx}"].copy_(W(cell.Whh, 4 * l.Hidden, l.Hidden));
                parameters[$"bias_ih_{sfx}"].copy_(W(cell.Bih, 4 * l.Hidden));
                parameters[$"bias_hh_{sfx}"].copy_(W(cell.Bhh, 4 * l.Hidden));
            }
        var (output, _, _) = lstm.forward(x[0]);
        return output;
    }
}
