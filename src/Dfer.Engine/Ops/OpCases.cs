using Dfer.Ops.AdaptiveSplit;
using Dfer.Ops.Add;
using Dfer.Ops.Attention;
using Dfer.Ops.AttentionPool;
using Dfer.Ops.AvgPool3d;
using Dfer.Ops.ClassToken;
using Dfer.Ops.Conv1d;
using Dfer.Ops.Conv2d;
using Dfer.Ops.Conv3d;
using Dfer.Ops.DepthwiseConv3d;
using Dfer.Ops.Dmin;
using Dfer.Ops.FrameSample;
using Dfer.Ops.Gate;
using Dfer.Ops.Gelu;
using Dfer.Ops.LayerNorm;
using Dfer.Ops.Lifting;
using Dfer.Ops.Linear;
using Dfer.Ops.Lstm;
using Dfer.Ops.MaxPool3d;
using Dfer.Ops.Permute;
using Dfer.Ops.RelPosAttention;
using Dfer.Ops.Reshape;
using Dfer.Ops.Slice;
using Dfer.Ops.Softmax;
using Dfer.Ops.TokenMaxPool;
using Dfer.Ops.TokenPool;
using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// Every op's numerics cases: tiny, odd-sized (primes, not multiples of the vector or tile width)
/// and realistic (M3DFEL's own shapes). Weights are random from the seed.
/// </summary>
public static class OpCases
{
    public static IReadOnlyList<OpCase> For(OpKind kind, ulong seed = 1)
    {
        var rng = new DeterministicRandom(seed + (ulong)kind * 7919);
        return kind switch
        {
            OpKind.Permute => PermuteCases(),
            OpKind.Reshape => new[]
            {
                new OpCase("reshape(3x5x7->15x7)", new ReshapeOp(-1, 7), new[] { new[] { 3, 5, 7 } }),
                new OpCase("reshape(8x1x1x1x512->2x4x512)", new ReshapeOp(2, 4, 512), new[] { new[] { 8, 1, 1, 1, 512 } }),
            },
            OpKind.Conv3d => Conv3dCases(rng),
            OpKind.AvgPool3d => new[] { new[] { 2, 3, 5, 7, 11 }, new[] { 3, 1, 7, 7, 512 }, new[] { 1, 4, 56, 56, 64 } }
                .Select(s => new OpCase($"avgpool3d(n={s[0]},t={s[1]},h={s[2]},w={s[3]},c={s[4]})", new AvgPool3dOp(), new[] { s })).ToArray(),
            OpKind.Linear => new[] { (1, 1, 1, true), (5, 13, 37, true), (8, 1024, 3072, false), (2, 1024, 7, true), (3, 33, 65, false),
                // From 24 rows on the CPU runs the tiled GEMM: IFDD-like widths, odd row and column counts.
                (50, 96, 288, true), (197, 768, 769, false), (100, 3072, 768, true), (24, 5, 17, true) }
                .Select(c => new OpCase($"linear(m={c.Item1},in={c.Item2},out={c.Item3}{(c.Item4 ? "" : ",nobias")})",
                    new LinearOp(c.Item2, c.Item3, Weights(rng, c.Item2 * c.Item3, c.Item2), c.Item4 ? Weights(rng, c.Item3, c.Item2) : null), new[] { new[] { c.Item1, c.Item2 } })).ToArray(),
            OpKind.Lstm => new[] { (1, 1, 3, 5, 1, false), (2, 3, 7, 11, 2, true), (3, 4, 13, 17, 2, true), (2, 4, 512, 512, 2, true) }
                .Select(c => new OpCase($"lstm(b={c.Item1},l={c.Item2},in={c.Item3},h={c.Item4},layers={c.Item5}{(c.Item6 ? ",bidir" : "")})",
                    Lstm(rng, c.Item3, c.Item4, c.Item5, c.Item6), new[] { new[] { c.Item1, c.Item2, c.Item3 } })).ToArray(),
            OpKind.Attention => new[] { (1, 1, 1, 1), (2, 5, 3, 7), (3, 4, 8, 128), (1, 13, 2, 33) }
                .Select(c => new OpCase($"attention(b={c.Item1},l={c.Item2},heads={c.Item3},d={c.Item4})", new AttentionOp(c.Item3, c.Item4),
                    new[] { new[] { c.Item1, c.Item2, 3 * c.Item3 * c.Item4 } })).ToArray(),
            OpKind.Dmin => new[] { (1, 2, 1), (3, 5, 7), (2, 4, 1024), (4, 3, 129) }
                .Select(c => new OpCase($"dmin(b={c.Item1},n={c.Item2},c={c.Item3})",
                    new DminOp(c.Item3, rng.Uniform(2, -1, 1), rng.Uniform(2, -1, 1), rng.Uniform(c.Item3, 0.5f, 1.5f), rng.Uniform(c.Item3, -0.5f, 0.5f)),
                    new[] { new[] { c.Item1, c.Item2, c.Item3 } })).ToArray(),
            OpKind.Gate => new[] { new[] { 1 }, new[] { 3, 5, 7 }, new[] { 2, 4, 1024 } }
                .Select(s => new OpCase($"gate({string.Join("x", s)})", new GateOp(), new[] { s, s })).ToArray(),
            OpKind.Conv1d => new[] { (1, 1, 1, 1, 1, 0), (2, 4, 1, 1024, 3, 1), (3, 5, 7, 11, 3, 1), (2, 3, 2, 13, 5, 2) }
                .Select(c => new OpCase($"conv1d(b={c.Item1},c={c.Item2}->{c.Item3},l={c.Item4},k={c.Item5},p={c.Item6})",
                    new Conv1dOp(c.Item2, c.Item3, c.Item5, c.Item6, Weights(rng, c.Item3 * c.Item2 * c.Item5, c.Item2 * c.Item5), Weights(rng, c.Item3, c.Item2)),
                    new[] { new[] { c.Item1, c.Item2, c.Item4 } })).ToArray(),
            OpKind.Softmax => new[] { new[] { 1, 1 }, new[] { 3, 7 }, new[] { 5, 13, 129 } }
                .Select(s => new OpCase($"softmax({string.Join("x", s)})", new SoftmaxOp(), new[] { s })).ToArray(),
            // IFDD: backbone norms (eps 1e-6) on up to 25089 tokens, LADM norms (C 768, eps 1e-5) on 196.
            OpKind.LayerNorm => new[] { (new[] { 1, 1 }, 1e-6), (new[] { 7, 13 }, 1e-5), (new[] { 1, 393, 768 }, 1e-6), (new[] { 196, 768 }, 1e-5), (new[] { 1, 1569, 384 }, 1e-6), (new[] { 3, 5, 97 }, 1e-6) }
                .Select(c => new OpCase($"layernorm({string.Join("x", c.Item1)},eps={c.Item2:0e0})",
                    new LayerNormOp(c.Item1[^1], rng.Uniform(c.Item1[^1], 0.5f, 1.5f), rng.Uniform(c.Item1[^1], -0.5f, 0.5f), c.Item2), new[] { c.Item1 })).ToArray(),
            OpKind.Gelu => new[] { new[] { 1 }, new[] { 3, 5, 7 }, new[] { 13, 131 }, new[] { 393, 3072 }, new[] { 392, 7 } }
                .Select(s => new OpCase($"gelu({string.Join("x", s)})", new GeluOp(), new[] { s })).ToArray(),
            OpKind.MaxPool3d => MaxPool3dCases(),
            OpKind.DepthwiseConv3d => DepthwiseConv3dCases(rng),
            OpKind.Conv2d => Conv2dCases(rng),
            // (b, t, s, c, k, divisor); IFDD's ISSM: 8 frames of 49×768, 4 positions, divisor 7. Indices
            // range past both ends so the border clamp is exercised.
            OpKind.FrameSample => new[] { (1, 1, 1, 1, 1, 1.0), (2, 5, 3, 7, 3, 4.0), (3, 8, 49, 11, 4, 7.0), (2, 8, 49, 768, 4, 7.0) }
                .Select(c => new OpCase($"framesample(b={c.Item1},t={c.Item2},s={c.Item3},c={c.Item4},k={c.Item5},divisor={c.Item6})",
                    new FrameSampleOp(c.Item6), new[] { new[] { c.Item1, c.Item2, c.Item3, c.Item4 }, new[] { c.Item1, c.Item5 } },
                    new[] { (-1f, 1f), (-2.5f, c.Item2 + 1.5f) })).ToArray(),
            OpKind.RelPosAttention => RelPosAttentionCases(rng),
            OpKind.Lifting => LiftingCases(rng),
            // IFDD's residuals: block 0 (25089 tokens × 96), block 9 (393 × 768, batch 2); odd lengths around the vector width.
            OpKind.Add => new[] { new[] { 1 }, new[] { 7 }, new[] { 1001 }, new[] { 3, 5, 7 }, new[] { 2, 393, 768 }, new[] { 1, 25089, 96 } }
                .Select(s => new OpCase($"add({string.Join("x", s)})", new AddOp(), new[] { s, s })).ToArray(),
            OpKind.Slice => SliceCases(),
            // IFDD: the 96-wide class token before block 0 (25088 tokens).
            OpKind.ClassToken => new[] { new[] { 1, 1, 1 }, new[] { 3, 5, 7 }, new[] { 2, 13, 97 }, new[] { 2, 25088, 96 } }
                .Select(s => new OpCase($"classtoken({string.Join("x", s)})", new ClassTokenOp(rng.Uniform(s[2], -1f, 1f)), new[] { s })).ToArray(),
            OpKind.AdaptiveSplit => AdaptiveSplitCases(rng),
            OpKind.TokenPool => TokenPoolCases(rng),
            OpKind.TokenMaxPool => TokenMaxPoolCases(),
            OpKind.SepConv2d or OpKind.MaxPool2d or OpKind.AddAct or OpKind.BoxDecode or OpKind.Nms => FaceApiOpCases.For(kind, rng),
            OpKind.AttentionPool => AttentionPoolCases(rng),
        };
    }

    public static IEnumerable<OpCase> All(ulong seed = 1) => Enum.GetValues<OpKind>().SelectMany(k => For(k, seed));

    private static float[] Weights(DeterministicRandom rng, int count, int fanIn)
    {
        float bound = (float)Math.Sqrt(3.0 / Math.Max(1, fanIn));
        return rng.Uniform(count, -bound, bound);
    }

    private static OpCase[] Conv3dCases(DeterministicRandom rng)
    {
        // (n, cin, t, h, w, cout, k, s, p, residual, relu)
        var shapes = new (int n, int c, int t, int h, int w, int co, (int, int, int) k, (int, int, int) s, (int, int, int) p, bool res, bool relu)[]
        {
            (1, 1, 1, 1, 1, 1, (1, 1, 1), (1, 1, 1), (0, 0, 0), false, false),
            (2, 3, 5, 7, 11, 5, (3, 3, 3), (1, 1, 1), (1, 1, 1), false, true),
            (1, 3, 4, 13, 17, 19, (3, 7, 7), (1, 2, 2), (1, 3, 3), false, true),
            (2, 7, 5, 9, 9, 17, (3, 3, 3), (2, 2, 2), (1, 1, 1), false, true),
            (2, 5, 5, 9, 7, 33, (1, 1, 1), (2, 2, 2), (0, 0, 0), false, false),
            (1, 11, 3, 5, 13, 11, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
            (3, 2, 2, 3, 4, 3, (2, 3, 1), (1, 2, 1), (0, 1, 0), true, false),
            (1, 64, 4, 14, 14, 64, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
            (2, 13, 3, 23, 29, 21, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
            (2, 256, 1, 7, 7, 256, (3, 3, 3), (1, 1, 1), (1, 1, 1), true, true),
        };
        return shapes.Select(c =>
        {
            int fan = c.c * c.k.Item1 * c.k.Item2 * c.k.Item3;
            var op = new Conv3dOp(c.c, c.co, c.k, c.s, c.p, Weights(rng, c.co * fan, fan), rng.Uniform(c.co, -0.5f, 0.5f), c.relu, c.res);
            var x = new[] { c.n, c.t, c.h, c.w, c.c };
            var inputs = c.res ? new[] { x, op.ConvOutputShape(x) } : new[] { x };
            string name = $"conv3d(n={c.n},c={c.c},t={c.t},h={c.h},w={c.w},k={c.k.Item1}x{c.k.Item2}x{c.k.Item3},s={c.s.Item1}x{c.s.Item2}x{c.s.Item3},p={c.p.Item1}x{c.p.Item2}x{c.p.Item3},cout={c.co}{(c.res ? ",res" : "")}{(c.relu ? ",relu" : "")})";
            return new OpCase(name, op, inputs);
        }).ToArray();
    }

    private static OpCase[] MaxPool3dCases()
    {
        // (input [n, t, h, w, c], k, s, p)
        var cases = new (int[] x, (int T, int H, int W) k, (int T, int H, int W) s, (int T, int H, int W) p)[]
        {
            (new[] { 1, 1, 1, 1, 1 }, (1, 1, 1), (1, 1, 1), (0, 0, 0)),
            (new[] { 2, 3, 5, 7, 11 }, (3, 3, 3), (2, 2, 2), (1, 1, 1)),
            (new[] { 1, 5, 13, 11, 3 }, (2, 3, 5), (1, 2, 3), (1, 1, 2)),
            (new[] { 2, 8, 56, 56, 96 }, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (new[] { 1, 8, 14, 14, 768 }, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
        };
        return cases.Select(c => new OpCase(
            $"maxpool3d(n={c.x[0]},t={c.x[1]},h={c.x[2]},w={c.x[3]},c={c.x[4]},k={c.k.T}x{c.k.H}x{c.k.W},s={c.s.T}x{c.s.H}x{c.s.W},p={c.p.T}x{c.p.H}x{c.p.W})",
            new MaxPool3dOp(c.k, c.s, c.p), new[] { c.x })).ToArray();
    }

    private static OpCase[] DepthwiseConv3dCases(DeterministicRandom rng)
    {
        // (n, c, t, h, w, k, s, p, bias); the last five are IFDD's pooling convs (96 channels, k 3, pad 1, batch = clips × heads).
        var shapes = new (int n, int c, int t, int h, int w, (int, int, int) k, (int, int, int) s, (int, int, int) p, bool bias)[]
        {
            (1, 1, 1, 1, 1, (1, 1, 1), (1, 1, 1), (0, 0, 0), true),
            (2, 3, 3, 4, 5, (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 13, 5, 11, 7, (3, 5, 3), (1, 2, 3), (1, 2, 1), true),
            (3, 37, 7, 13, 17, (2, 3, 3), (2, 3, 2), (0, 1, 1), true),
            (1, 19, 3, 29, 23, (3, 3, 3), (1, 3, 2), (1, 1, 1), false),
            (2, 96, 8, 56, 56, (3, 3, 3), (1, 8, 8), (1, 1, 1), false),
            (1, 96, 8, 56, 56, (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (4, 96, 8, 14, 14, (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 96, 8, 28, 28, (3, 3, 3), (1, 4, 4), (1, 1, 1), false),
            (8, 96, 8, 7, 7, (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
        };
        return shapes.Select(c =>
        {
            int fan = c.k.Item1 * c.k.Item2 * c.k.Item3;
            var op = new DepthwiseConv3dOp(c.c, c.k, c.s, c.p, Weights(rng, c.c * fan, fan), c.bias ? rng.Uniform(c.c, -0.5f, 0.5f) : null);
            string name = $"dwconv3d(n={c.n},c={c.c},t={c.t},h={c.h},w={c.w},k={c.k.Item1}x{c.k.Item2}x{c.k.Item3},s={c.s.Item1}x{c.s.Item2}x{c.s.Item3},p={c.p.Item1}x{c.p.Item2}x{c.p.Item3}{(c.bias ? "" : ",nobias")})";
            return new OpCase(name, op, new[] { new[] { c.n, c.t, c.h, c.w, c.c } });
        }).ToArray();
    }

    private static OpCase[] Conv2dCases(DeterministicRandom rng)
    {
        // (n, cin, h, w, cout, k, s, p, d, bias); the last is IFDD's 3x3 dilation-2 stride-2 conv (8 frames there, 2 here).
        var shapes = new (int n, int c, int h, int w, int co, (int, int) k, (int, int) s, (int, int) p, (int, int) d, bool bias)[]
        {
            (1, 1, 1, 1, 1, (1, 1), (1, 1), (0, 0), (1, 1), true),
            (2, 3, 5, 6, 4, (3, 3), (1, 1), (1, 1), (1, 1), false),
            (2, 7, 13, 11, 19, (3, 3), (2, 2), (2, 2), (2, 2), true),
            (3, 5, 17, 19, 37, (3, 5), (1, 2), (3, 2), (3, 1), true),
            (1, 11, 23, 29, 13, (2, 3), (2, 1), (0, 3), (1, 3), false),
            (1, 37, 7, 7, 41, (3, 3), (1, 1), (1, 1), (1, 1), true),
            (2, 384, 14, 14, 384, (3, 3), (2, 2), (2, 2), (2, 2), false),
        };
        return shapes.Select(c =>
        {
            int fan = c.c * c.k.Item1 * c.k.Item2;
            var op = new Conv2dOp(c.c, c.co, c.k, c.s, c.p, c.d, Weights(rng, c.co * fan, fan), c.bias ? rng.Uniform(c.co, -0.5f, 0.5f) : null);
            string name = $"conv2d(n={c.n},c={c.c},h={c.h},w={c.w},k={c.k.Item1}x{c.k.Item2},s={c.s.Item1}x{c.s.Item2},p={c.p.Item1}x{c.p.Item2},d={c.d.Item1}x{c.d.Item2},cout={c.co}{(c.bias ? "" : ",nobias")})";
            return new OpCase(name, op, new[] { new[] { c.n, c.h, c.w, c.c } });
        }).ToArray();
    }

    private static OpCase[] RelPosAttentionCases(DeterministicRandom rng)
    {
        // (b, heads, d, q grid, k grid, residual pooling); the last is IFDD block 9 (8 heads × 393 × 393, d 96).
        var shapes = new (int b, int h, int d, (int T, int H, int W) q, (int T, int H, int W) k, bool res)[]
        {
            (1, 1, 1, (1, 1, 1), (1, 1, 1), true),
            (2, 2, 7, (2, 3, 5), (2, 2, 3), true),
            (2, 2, 7, (2, 3, 5), (2, 2, 3), false),
            (1, 2, 11, (2, 8, 8), (2, 2, 2), true),      // q larger (blocks 0-2, 4-7: I = i + s·(k−1−j))
            (2, 3, 5, (1, 2, 2), (1, 4, 4), true),       // k larger (block 8: I = 2i + k−1 − j)
            (1, 8, 96, (8, 7, 7), (8, 7, 7), true),
        };
        return shapes.Select(c =>
        {
            int rt = RelPosAttentionOp.TableRows(c.q.T, c.k.T), rh = RelPosAttentionOp.TableRows(c.q.H, c.k.H), rw = RelPosAttentionOp.TableRows(c.q.W, c.k.W);
            var op = new RelPosAttentionOp(c.h, c.d, c.q, c.k, Weights(rng, rt * c.d, c.d), Weights(rng, rh * c.d, c.d), Weights(rng, rw * c.d, c.d), residualPooling: c.res);
            var qs = new[] { c.b, c.h, op.Nq, c.d };
            var ks = new[] { c.b, c.h, op.Nk, c.d };
            string name = $"relposattn(b={c.b},heads={c.h},d={c.d},q={c.q.T}x{c.q.H}x{c.q.W},k={c.k.T}x{c.k.H}x{c.k.W}{(c.res ? ",res" : "")})";
            return new OpCase(name, op, new[] { qs, ks, (int[])ks.Clone() });
        }).ToArray();
    }

    private static OpCase[] LiftingCases(DeterministicRandom rng)
    {
        // (b, t, s, heads, hd, k, divisor); IFDD: 8 frames of 49 tokens, 8 heads × 96, K 4, divisor 7.
        var shapes = new (int b, int t, int s, int h, int d, int k, double div)[]
        {
            (1, 2, 1, 1, 2, 1, 1.0),
            (2, 5, 3, 2, 5, 2, 4.0),
            (1, 8, 7, 2, 24, 4, 7.0),
        };
        return shapes.Select(c =>
        {
            int ch = c.h * c.d;
            LayerNormOp Norm() => new(ch, rng.Uniform(ch, 0.5f, 1.5f), rng.Uniform(ch, -0.5f, 0.5f), 1e-5);
            LinearOp Lin(int o) => new(ch, o, Weights(rng, o * ch, ch), rng.Uniform(o, -0.5f, 0.5f));
            var op = new LiftingOp(c.h, c.d, c.div, Norm(), Norm(), Lin(ch), Lin(2 * ch), Lin(ch), Lin(ch), Lin(2 * ch), Lin(ch));
            var idx = new[] { c.b, c.k };
            return new OpCase($"lifting(b={c.b},t={c.t},s={c.s},heads={c.h},d={c.d},k={c.k},divisor={c.div})", op,
                new[] { new[] { c.b, c.t, c.s, ch }, idx, (int[])idx.Clone() },
                new[] { (-1f, 1f), (-2.5f, c.t + 1.5f), (-2.5f, c.t + 1.5f) });
        }).ToArray();
    }

    private static OpCase[] SliceCases()
    {
        // (input, axis, start, length); IFDD drops the class token of stage 2 (1569 × 384) and stage 3 (393 × 768).
        var cases = new (int[] x, int axis, int start, int length)[]
        {
            (new[] { 1, 1 }, 1, 0, 1),
            (new[] { 3, 11, 13 }, 1, 4, 7),
            (new[] { 3, 5, 7 }, 2, 2, 3),            // last axis: many short runs
            (new[] { 2, 5, 7 }, 2, 6, 1),            // the last value of the last axis
            (new[] { 2, 7, 5, 3 }, 2, 1, 3),         // a middle axis of a rank-4 tensor
            (new[] { 2, 1569, 384 }, 1, 1, 1568),
            (new[] { 2, 393, 768 }, 1, 1, 392),
        };
        return cases.Select(c => new OpCase($"slice({string.Join("x", c.x)},axis={c.axis},start={c.start},length={c.length})",
            new SliceOp(c.axis, c.start, c.length), new[] { c.x })).ToArray();
    }

    private static OpCase[] AdaptiveSplitCases(DeterministicRandom rng)
    {
        // (b, t, m, base, similarity scale, offset scale, negate, feature range, weight bound).
        // IFDD: 8 frames of 343 GELU'd features (GELU ≥ −0.17), S = f·fᵀ/768 = O(1); offset weights
        // large enough that tanh is well off its linear part; approx (S, even bases) and detail (−S, odd bases).
        var shapes = new (int b, int t, int m, float[] baseIndex, double scale, double offScale, bool negate, (float Lo, float Hi) range, float w, string name)[]
        {
            (1, 1, 1, new[] { 0.5f }, 1.0, 1.0, false, (-1f, 1f), 1f, ""),
            (3, 3, 5, new[] { 1f, 2f }, 0.7, 1.5, true, (-1f, 1f), 1.5f, ""),
            (2, 5, 17, new[] { 0f, 1.5f, 3f }, 0.25, 2.0, false, (-0.5f, 1.5f), 1f, ""),
            (2, 8, 343, new[] { 0f, 2f, 4f, 6f }, 1.0 / 768, 2.0, false, (-0.17f, 3f), 2f, ",approx"),
            (2, 8, 343, new[] { 1f, 3f, 5f, 7f }, 1.0 / 768, 2.0, true, (-0.17f, 3f), 2f, ",detail"),
        };
        return shapes.Select(c =>
        {
            int k = c.baseIndex.Length;
            var op = new AdaptiveSplitOp(c.t, rng.Uniform(k * c.t * c.t, -c.w, c.w), c.baseIndex, c.scale, c.offScale, c.negate);
            return new OpCase($"issm(b={c.b},t={c.t},m={c.m},k={k},scale={c.scale:0.####},offset={c.offScale}{(c.negate ? ",negate" : "")}{c.name})",
                op, new[] { new[] { c.b, c.t, c.m } }, new[] { c.range });
        }).ToArray();
    }

    private static OpCase[] TokenPoolCases(DeterministicRandom rng)
    {
        // (b, parts, part, heads, d, grid, k, s, p, bias). The small ones are odd-sized (d not a vector width,
        // strides differing per axis, a part other than q, batch > 1); then IFDD's twelve pooling configurations
        // (notes 3.3: d 96, k 3, pad 1, q/k/v of one qkv), at batch 1 except two cheap ones: ILGPU's CPU
        // accelerator pays per thread, and the stride-1 convs on 56² and 28² grids are its largest launches here.
        var shapes = new (int b, int parts, int part, int h, int d, (int T, int H, int W) g, (int, int, int) k, (int, int, int) s, (int, int, int) p, bool bias)[]
        {
            (1, 1, 0, 1, 2, (1, 1, 2), (1, 1, 1), (1, 1, 1), (0, 0, 0), false),
            (2, 2, 1, 3, 5, (3, 5, 4), (3, 3, 3), (1, 2, 3), (1, 1, 1), false),
            (3, 3, 2, 2, 7, (2, 3, 5), (2, 3, 1), (2, 1, 2), (1, 1, 0), true),
            (2, 3, 0, 2, 13, (4, 7, 6), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 0, 1, 96, (8, 56, 56), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (1, 3, 1, 1, 96, (8, 56, 56), (3, 3, 3), (1, 8, 8), (1, 1, 1), false),
            (1, 3, 0, 2, 96, (8, 56, 56), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 2, 2, 96, (8, 56, 56), (3, 3, 3), (1, 4, 4), (1, 1, 1), false),
            (1, 3, 0, 2, 96, (8, 28, 28), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (1, 3, 1, 2, 96, (8, 28, 28), (3, 3, 3), (1, 4, 4), (1, 1, 1), false),
            (1, 3, 2, 4, 96, (8, 28, 28), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 0, 4, 96, (8, 14, 14), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 3, 2, 4, 96, (8, 14, 14), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 0, 8, 96, (8, 14, 14), (3, 3, 3), (1, 2, 2), (1, 1, 1), false),
            (1, 3, 1, 8, 96, (8, 14, 14), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
            (2, 3, 2, 8, 96, (8, 7, 7), (3, 3, 3), (1, 1, 1), (1, 1, 1), false),
        };
        return shapes.Select(c =>
        {
            int fan = c.k.Item1 * c.k.Item2 * c.k.Item3;
            var conv = new DepthwiseConv3dOp(c.d, c.k, c.s, c.p, Weights(rng, c.d * fan, fan), c.bias ? rng.Uniform(c.d, -0.5f, 0.5f) : null);
            var norm = new LayerNormOp(c.d, rng.Uniform(c.d, 0.5f, 1.5f), rng.Uniform(c.d, -0.5f, 0.5f), 1e-6);
            var op = new TokenPoolOp(c.parts, c.part, c.h, c.g, conv, norm);
            string name = $"tokenpool(b={c.b},parts={c.parts},part={c.part},heads={c.h},d={c.d},grid={c.g.T}x{c.g.H}x{c.g.W},k={c.k.Item1}x{c.k.Item2}x{c.k.Item3},s={c.s.Item1}x{c.s.Item2}x{c.s.Item3},p={c.p.Item1}x{c.p.Item2}x{c.p.Item3}{(c.bias ? ",bias" : "")})";
            return new OpCase(name, op, new[] { new[] { c.b, op.InTokens, op.InChannels } });
        }).ToArray();
    }

    private static OpCase[] TokenMaxPoolCases()
    {
        // (b, grid, c, k, s, p); the last three are IFDD's pool_skip (blocks 1, 3, 8: k 1x3x3, s 1x2x2, p 0x1x1).
        var cases = new (int b, (int T, int H, int W) g, int c, (int T, int H, int W) k, (int T, int H, int W) s, (int T, int H, int W) p)[]
        {
            (1, (1, 1, 1), 1, (1, 1, 1), (1, 1, 1), (0, 0, 0)),
            (2, (3, 5, 7), 11, (3, 3, 3), (2, 2, 2), (1, 1, 1)),
            (3, (2, 5, 4), 13, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (2, (5, 3, 6), 9, (2, 3, 2), (1, 3, 2), (1, 1, 0)),
            (1, (8, 56, 56), 192, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (1, (8, 28, 28), 384, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
            (2, (8, 14, 14), 768, (1, 3, 3), (1, 2, 2), (0, 1, 1)),
        };
        return cases.Select(c =>
        {
            var op = new TokenMaxPoolOp(c.g, new MaxPool3dOp(c.k, c.s, c.p));
            return new OpCase(
                $"tokenmaxpool(b={c.b},grid={c.g.T}x{c.g.H}x{c.g.W},c={c.c},k={c.k.T}x{c.k.H}x{c.k.W},s={c.s.T}x{c.s.H}x{c.s.W},p={c.p.T}x{c.p.H}x{c.p.W})",
                op, new[] { new[] { c.b, op.InTokens, c.c } });
        }).ToArray();
    }

    private static OpCase[] AttentionPoolCases(DeterministicRandom rng)
    {
        // (b, n, d, heads, classes, k, p): tiny; odd (d 40, a head dim of 10, 3 instances, 5 classes);
        // odd with a wide kernel, padding 2 and a head dim of 7; M3DFEL's head at batch 1, 2 and 3.
        // The head's DMIN, gate and pwconv have no op of their own, so the odd shapes the dmin, gate
        // and conv1d cases covered are here: one feature; fewer features than a SIMD vector (7, with
        // 5 instances); a feature count one past a multiple of 8 (129, 4 samples of 3 instances); 13
        // features through a kernel of 5 with padding 2.
        var shapes = new (int b, int n, int d, int h, int cls, int k, int p)[]
        {
            (1, 2, 2, 1, 1, 1, 0),
            (2, 3, 40, 4, 5, 3, 1),
            (3, 2, 35, 5, 3, 5, 2),
            (1, 2, 1, 1, 2, 1, 0),
            (3, 5, 7, 7, 2, 3, 1),
            (4, 3, 129, 3, 7, 3, 1),
            (2, 3, 13, 1, 4, 5, 2),
            (1, 4, 1024, 8, 7, 3, 1),
            (2, 4, 1024, 8, 7, 3, 1),
            (3, 4, 1024, 8, 7, 3, 1),
        };
        return shapes.Select(c =>
        {
            int lout = c.d + 2 * c.p - c.k + 1;
            var op = new AttentionPoolOp(c.d, c.h, c.n, c.cls, new AttentionPoolWeights
            {
                Qkv = Weights(rng, 3 * c.d * c.d, c.d),
                MeanWeight = rng.Uniform(2, -1, 1),
                VarWeight = rng.Uniform(2, -1, 1),
                NormWeight = rng.Uniform(c.d, 0.5f, 1.5f),
                NormBias = rng.Uniform(c.d, -0.5f, 0.5f),
                Eps = 1e-5,
                ConvKernel = c.k,
                ConvPad = c.p,
                ConvWeight = Weights(rng, c.n * c.k, c.n * c.k),
                ConvBias = rng.Uniform(1, -0.5f, 0.5f)[0],
                FcWeight = Weights(rng, c.cls * lout, lout),
                FcBias = rng.Uniform(c.cls, -0.5f, 0.5f),
            });
            return new OpCase($"attentionpool(b={c.b},n={c.n},d={c.d},heads={c.h},classes={c.cls},k={c.k},p={c.p})", op, new[] { new[] { c.b, c.n, c.d } });
        }).ToArray();
    }

    private static LstmOp Lstm(DeterministicRandom rng, int input, int hidden, int layers, bool bidir)
    {
        int dirs = bidir ? 2 : 1;
        float b = (float)(1.0 / Math.Sqrt(hidden));
        return new LstmOp(input, hidden, bidir, Enumerable.Range(0, layers).Select(l => Enumerable.Range(0, dirs).Select(_ =>
        {
            int inSize = l == 0 ? input : hidden * dirs;
            return new LstmCell(rng.Uniform(4L * hidden * inSize, -b, b), rng.Uniform(4L * hidden * hidden, -b, b), rng.Uniform(4 * hidden, -b, b), rng.Uniform(4 * hidden, -b, b));
        }).ToArray()).ToArray());
    }

    private static OpCase[] PermuteCases() => new[]
    {
        new OpCase("permute(clip b=1,f=4,c=3,h=5,w=7 -> instances)", new PermuteOp(new[] { -1, 2, 2, 3, 5, 7 }, new[] { 0, 1, 2, 4, 5, 3 }, new[] { -1, 2, 5, 7, 3 }), new[] { new[] { 1, 4, 3, 5, 7 } }),
        new OpCase("permute(clip b=2,f=16,c=3,h=112,w=112 -> instances)", new PermuteOp(new[] { -1, 4, 4, 3, 112, 112 }, new[] { 0, 1, 2, 4, 5, 3 }, new[] { -1, 4, 112, 112, 3 }), new[] { new[] { 2, 16, 3, 112, 112 } }),
        new OpCase("permute(3x5x7, axes 2,0,1)", new PermuteOp(new[] { 3, 5, 7 }, new[] { 2, 0, 1 }, new[] { 7, 3, 5 }), new[] { new[] { 3, 5, 7 } }),
    };
}
