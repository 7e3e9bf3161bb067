using Dfer.Devices.Cpu;
using Dfer.Tensors;

namespace Dfer.Ops.BoxDecode;

/// <summary>Box decoding on the CPU: a few hundred boxes per image, so one work item per image, plain scalar
/// code.</summary>
public sealed unsafe class BoxDecodeCpu(BoxDecodeOp op) : ICpuKernel
{
    public void Run(CpuContext ctx, ReadOnlySpan<Tensor> inputs, Tensor output)
    {
        var xt = CpuChecks.Dense(inputs[0]);
        CpuChecks.ExpectDense(output, "boxdecode");
        int n = xt.Shape[0], gh = xt.Shape[1], gw = xt.Shape[2], a = op.Anchors;
        float* x = xt.Data, y = output.Data;
        long i = 0;
        for (int b = 0; b < n; b++)
            for (int r = 0; r < gh; r++)
                for (int c = 0; c < gw; c++)
                    for (int k = 0; k < a; k++, i += 5)
                        Decode(x + i, y + i, r, c, gh, gw, op.AnchorWidths[k], op.AnchorHeights[k]);
    }

    internal static void Decode(float* t, float* o, int r, int c, int gh, int gw, float aw, float ah)
    {
        float cx = (c + 1f / (1f + MathF.Exp(-t[0]))) / gw, cy = (r + 1f / (1f + MathF.Exp(-t[1]))) / gh;
        float w = MathF.Exp(t[2]) * aw / gw, h = MathF.Exp(t[3]) * ah / gh;
        float x0 = cx - w / 2, y0 = cy - h / 2;
        o[0] = x0; o[1] = y0; o[2] = x0 + w; o[3] = y0 + h; o[4] = 1f / (1f + MathF.Exp(-t[4]));
    }
}
