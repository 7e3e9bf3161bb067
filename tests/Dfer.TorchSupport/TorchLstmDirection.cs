using TorchSharp;
using static TorchSharp.torch;
using F = TorchSharp.torch.nn.functional;

namespace Dfer.TorchSupport;

/// <summary>
/// One direction of one layer of PyTorch's nn.LSTM, written out step by step for the whole-model oracles (M3DFEL's
/// and RDFER's BiLSTMs): gates i, f, g, o from <c>x·W_ihᵀ + b_ih + h·W_hhᵀ + b_hh</c>, zero initial state.
/// </summary>
internal sealed record TorchLstmDirection(Tensor WeightIh, Tensor WeightHh, Tensor BiasIh, Tensor BiasHh,
    bool Reverse)
{
    /// <returns>Hidden states for every step, [batch, T, hidden], in input order even when reversed.</returns>
    public Tensor Run(Tensor sequence, ScalarType dtype)
    {
        long batch = sequence.shape[0], hidden = WeightHh.shape[1];
        int steps = (int)sequence.shape[1];
        var inputGates = F.linear(sequence, WeightIh, BiasIh);
        var h = zeros(batch, hidden, dtype);
        var c = zeros(batch, hidden, dtype);
        var outputs = new Tensor[steps];
        for (int step = 0; step < steps; step++)
        {
            int t = Reverse ? steps - 1 - step : step;
            var gates = (inputGates.select(1, t) + F.linear(h, WeightHh, BiasHh)).chunk(4, 1);
            var i = sigmoid(gates[0]);
            var f = sigmoid(gates[1]);
            var g = tanh(gates[2]);
            var o = sigmoid(gates[3]);
            c = f * c + i * g;
            h = o * tanh(c);
            outputs[t] = h;
        }
        return stack(outputs, 1);
    }
}
