namespace Dfer;

/// <summary>The order of a DFER checkpoint's seven outputs: the dataset it was trained on decides it, and a
/// checkpoint does not record that (docs/library.md).</summary>
public enum ClassOrder
{
    /// <summary>DFEW's order (label id − 1): happy, sad, neutral, angry, surprise, disgust, fear.</summary>
    Dfew,

    /// <summary>FERV39K's order: angry, disgust, fear, happy, neutral, sad, surprise.</summary>
    Ferv39k,
}

/// <summary>Whether the frames go through the face stage (find, track and crop the face; docs/faces.md).</summary>
public enum FaceMode
{
    /// <summary>Detect for video files, images and decoded frames; none for frame folders, which are taken to be face
    /// crops already (as DFEW's are).</summary>
    Auto,

    /// <summary>Find, track and crop the main face before the model sees the frames.</summary>
    Detect,

    /// <summary>The whole frames, resized by the model's own protocol.</summary>
    None,
}

/// <summary>How a <see cref="DferModel"/> is loaded and run. Every property has a default; <c>new DferOptions()</c> is
/// the CPU backend in fp32 on every core, DFEW's class order and the automatic face stage.</summary>
public sealed record DferOptions
{
    /// <summary>The backend: "cpu" (default), "ilgpu-cpu", "ilgpu-cuda", "cuda" or "reference" (float64, slow, for
    /// checking).</summary>
    public string Backend { get; init; } = "cpu";

    /// <summary>What the backend computes in: "fp32" (default); "tf32", "bf16" or "fp16" on the cuda backend.</summary>
    public string Precision { get; init; } = "fp32";

    /// <summary>Worker threads of the cpu backend; 0 (default) uses every core.</summary>
    public int Threads { get; init; }

    /// <summary>The order of a DFER checkpoint's outputs (ignored by the expression model, whose order is
    /// fixed).</summary>
    public ClassOrder Classes { get; init; } = ClassOrder.Dfew;

    /// <summary>The face stage for DFER models (the expression model always detects faces).</summary>
    public FaceMode Face { get; init; } = FaceMode.Auto;

    /// <summary>The face detector: "ssd" (SSD MobileNet v1, default) or "tiny" (face-api's tiny detector).</summary>
    public string Detector { get; init; } = "ssd";

    /// <summary>For a PyTorch checkpoint holding more than a state dict: the entry that holds it, e.g.
    /// "state_dict"; null to find it.</summary>
    public string? CheckpointKey { get; init; }
}
