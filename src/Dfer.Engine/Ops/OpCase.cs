using Dfer.Tensors;

namespace Dfer.Ops;

/// <summary>
/// One numerics check of an op: the op instance (with its random weights) and the shapes of its
/// inputs. Names carry the shape, e.g. <c>conv3d(n=2,c=3,t=5,h=7,w=11,k=3x3x3,s=1,p=1)</c>, so a
/// test filter or `dfer validate` can pick one.
/// </summary>
public sealed record OpCase(string Name, Op Op, int[][] InputShapes)
{
    /// <summary>Fresh random inputs in [−1, 1), one array per input.</summary>
    public float[][] MakeInputs(DeterministicRandom rng) =>
        InputShapes.Select(s => rng.Uniform(Tensor.ElementCountOf(s), -1f, 1f)).ToArray();

    public override string ToString() => Name;
}
