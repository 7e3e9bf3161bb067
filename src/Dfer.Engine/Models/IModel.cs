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

/// <summary>The class order every DFER model in Dfer reports (DFEW label id minus 1).</summary>
public static class EmotionClasses
{
    public static readonly IReadOnlyList<string> Seven =
        new[] { "happy", "sad", "neutral", "angry", "surprise", "disgust", "fear" };
}
