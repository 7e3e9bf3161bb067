using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// One numerics check of an op: the op instance (with its random weights) and the shapes of its
/// inputs. Names carry the shape, e.g. <c>conv3d(n=2,c=3,t=5,h=7,w=11,k=3x3x3,s=1,p=1)</c>, so a
/// test filter or `dfer validate` can pick one.
/// </summary>
public sealed record OpCase(string Name, Op Op, int[][] InputShapes, (float Lo, float Hi)[]? Ranges = null)
{
    /// <summary>Fresh random inputs, one array per input: in [−1, 1), or in the case's own range for inputs that are
    /// not activations (e.g. fractional frame indices).</summary>
    public float[][] MakeInputs(DeterministicRandom rng) =>
        InputShapes.Select(
        (s, i) => Ranges is { } r ? rng.Uniform(Tensor.ElementCountOf(s), r[i].Lo, r[i].Hi)
        : rng.Uniform(Tensor.ElementCountOf(s), -1f, 1f)).ToArray();

    public override string ToString() => Name;
}
