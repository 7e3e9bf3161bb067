namespace Dfer.Ops;

/// <summary>
/// Every op the engine knows. Backends map each kind to a kernel with a switch expression that
/// has no discard arm, so adding a kind here breaks every backend's build until it says what it
/// does with it (CS8509 is an error).
/// </summary>
public enum OpKind
{
    Permute,
    Reshape,
    Conv3d,
    AvgPool3d,
    Linear,
    Lstm,
    Attention,
    Dmin,
    Gate,
    Conv1d,
    Softmax,
    LayerNorm,
    Gelu,
    MaxPool3d,
    DepthwiseConv3d,
    Conv2d,
    FrameSample,
    RelPosAttention,
    Lifting,
    Add,
    Slice,
    ClassToken,
    AdaptiveSplit,
    TokenPool,
    TokenMaxPool,
    SepConv2d,
    MaxPool2d,
    AddAct,
    BoxDecode,
    Nms,
    AttentionPool,
}

public static class OpKindNames
{
    /// <summary>Stable lower-case op names used by the CLI, JSON output and test case names.</summary>
    public static string OpName(this OpKind kind) => kind switch
    {
        OpKind.Permute => "permute",
        OpKind.Reshape => "reshape",
        OpKind.Conv3d => "conv3d",
        OpKind.AvgPool3d => "avgpool3d",
        OpKind.Linear => "linear",
        OpKind.Lstm => "lstm",
        OpKind.Attention => "attention",
        OpKind.Dmin => "dmin",
        OpKind.Gate => "gate",
        OpKind.Conv1d => "conv1d",
        OpKind.Softmax => "softmax",
        OpKind.LayerNorm => "layernorm",
        OpKind.Gelu => "gelu",
        OpKind.MaxPool3d => "maxpool3d",
        OpKind.DepthwiseConv3d => "dwconv3d",
        OpKind.Conv2d => "conv2d",
        OpKind.FrameSample => "framesample",
        OpKind.RelPosAttention => "relposattn",
        OpKind.Lifting => "lifting",
        OpKind.Add => "add",
        OpKind.Slice => "slice",
        OpKind.ClassToken => "classtoken",
        OpKind.AdaptiveSplit => "issm",
        OpKind.TokenPool => "tokenpool",
        OpKind.TokenMaxPool => "tokenmaxpool",
        OpKind.SepConv2d => "sepconv2d",
        OpKind.MaxPool2d => "maxpool2d",
        OpKind.AddAct => "addact",
        OpKind.BoxDecode => "boxdecode",
        OpKind.Nms => "nms",
        OpKind.AttentionPool => "attentionpool",
    };
}
