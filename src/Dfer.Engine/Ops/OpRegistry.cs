namespace Dfer.Ops;

/// <summary>
/// Every op kind the engine knows, one line each: adding an op is its folder plus a line here
/// (docs/architecture.md, "How to add"). Backends, <c>dfer validate</c> and the op matrix take
/// the list from here; tests check that every kind has cases, an oracle and its kernels.
/// </summary>
public static class OpRegistry
{
    /// <summary>The kinds, in a fixed order (a kind's position salts its cases' random weights).</summary>
    public static IReadOnlyList<OpKind> All { get; } =
    [
        Permute.PermuteKind.Instance,
        Reshape.ReshapeKind.Instance,
        Conv3d.Conv3dKind.Instance,
        AvgPool3d.AvgPool3dKind.Instance,
        Linear.LinearKind.Instance,
        Lstm.LstmKind.Instance,
        Attention.AttentionKind.Instance,
        Softmax.SoftmaxKind.Instance,
        LayerNorm.LayerNormKind.Instance,
        Gelu.GeluKind.Instance,
        MaxPool3d.MaxPool3dKind.Instance,
        DepthwiseConv3d.DepthwiseConv3dKind.Instance,
        Conv2d.Conv2dKind.Instance,
        FrameSample.FrameSampleKind.Instance,
        RelPosAttention.RelPosAttentionKind.Instance,
        Lifting.LiftingKind.Instance,
        Add.AddKind.Instance,
        Slice.SliceKind.Instance,
        ClassToken.ClassTokenKind.Instance,
        AdaptiveSplit.AdaptiveSplitKind.Instance,
        TokenPool.TokenPoolKind.Instance,
        TokenMaxPool.TokenMaxPoolKind.Instance,
        SepConv2d.SepConv2dKind.Instance,
        MaxPool2d.MaxPool2dKind.Instance,
        AddAct.AddActKind.Instance,
        BoxDecode.BoxDecodeKind.Instance,
        Nms.NmsKind.Instance,
        AttentionPool.AttentionPoolKind.Instance,
        TemporalShift.TemporalShiftKind.Instance,
        SsdDecode.SsdDecodeKind.Instance,
        Gate.GateKind.Instance,
        Conv1d.Conv1dKind.Instance,
        KeySample.KeySampleKind.Instance,
        FrameGather.FrameGatherKind.Instance,
        PosEmbed.PosEmbedKind.Instance,
    ];

    /// <summary>The kind called <paramref name="name"/> (case-insensitive), or null.</summary>
    public static OpKind? Find(string name) =>
        All.FirstOrDefault(k => string.Equals(k.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>The kind called <paramref name="name"/>; <see cref="ArgumentException"/> listing the kinds when there
    /// is none.</summary>
    public static OpKind Named(string name) =>
        Find(name) ?? throw new ArgumentException(
        $"unknown op '{name}'; ops are {string.Join(", ", All.Select(k => k.Name))}", nameof(name));

    /// <summary>The position of <paramref name="kind"/> in <see cref="All"/>.</summary>
    public static int IndexOf(OpKind kind)
    {
        for (int i = 0; i < All.Count; i++)
            if (ReferenceEquals(All[i], kind)) return i;
        throw new ArgumentException($"op kind {kind.Name} is not registered in OpRegistry.All", nameof(kind));
    }
}
