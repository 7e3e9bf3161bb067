using Dfer.Media;
using Dfer.Ops;
using Dfer.Weights;

namespace Dfer.Models;

/// <summary>A model family: what weights it expects, how it turns them into a graph, what input it takes.</summary>
public interface IModel
{
    /// <summary>CLI name, e.g. "m3dfel".</summary>
    string Name { get; }

    /// <summary>Every state-dict key with its shape, in the original model's order.</summary>
    IReadOnlyList<(string Name, long[] Shape)> StateDictKeys { get; }

    /// <summary>Shape of one clip (without the batch axis), e.g. [16, 3, 112, 112].</summary>
    int[] ClipShape { get; }

    /// <summary>
    /// The original test-time preprocessing: how frames are chosen from a video, resized and laid
    /// out into clips of <see cref="ClipShape"/>.
    /// </summary>
    ClipProtocol Protocol { get; }

    /// <summary>Class labels in output order.</summary>
    IReadOnlyList<string> Classes { get; }

    /// <summary>Validates <paramref name="weights"/> and builds the inference graph (outputs "logits" and
    /// "probabilities").</summary>
    Graph Build(StateDict weights);

    /// <summary>Deterministic stand-in weights with realistic scales, for benchmarks and demos without a
    /// checkpoint.</summary>
    StateDict GenerateWeights(ulong seed);
}

/// <summary>
/// The order of a DFER checkpoint's seven outputs. A checkpoint does not record the dataset it was trained on, and the
/// two datasets number their classes differently, so the user says which (<c>--classes</c>).
/// </summary>
public enum ClassOrder
{
    /// <summary>DFEW's: label id − 1 = happy, sad, neutral, angry, surprise, disgust, fear.</summary>
    Dfew,
    /// <summary>FERV39K's: angry, disgust, fear, happy, neutral, sad, surprise.</summary>
    Ferv39k,
}

/// <summary>The class orders of the DFER datasets.</summary>
public static class EmotionClasses
{
    /// <summary>DFEW's order (label id minus 1); face-api's expression net is mapped into it too.</summary>
    public static readonly IReadOnlyList<string> Seven =
        new[] { "happy", "sad", "neutral", "angry", "surprise", "disgust", "fear" };

    /// <summary>FERV39K's order.</summary>
    public static readonly IReadOnlyList<string> Ferv39k =
        new[] { "angry", "disgust", "fear", "happy", "neutral", "sad", "surprise" };

    /// <summary>The labels of <paramref name="order"/>, in output order.</summary>
    public static IReadOnlyList<string> Of(ClassOrder order) => order == ClassOrder.Ferv39k ? Ferv39k : Seven;

    /// <summary>The CLI names of the orders.</summary>
    public static IReadOnlyList<string> OrderNames { get; } = ["dfew", "ferv39k"];

    /// <summary>"dfew" or "ferv39k" (any case); <see cref="DferException"/> naming the choices otherwise.</summary>
    public static ClassOrder ParseOrder(string name) => name.ToLowerInvariant() switch
    {
        "dfew" => ClassOrder.Dfew,
        "ferv39k" => ClassOrder.Ferv39k,
        _ => throw new DferException($"--classes {name}: unknown class order; choose dfew or ferv39k"),
    };

    /// <summary>The CLI name of <paramref name="order"/>.</summary>
    public static string NameOf(ClassOrder order) => order == ClassOrder.Ferv39k ? "ferv39k" : "dfew";
}
