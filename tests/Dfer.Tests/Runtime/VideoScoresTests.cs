using Dfer.Models;
using Dfer.Runtime;

namespace Dfer.Tests.Runtime;

[TestFixture]
public class VideoScoresTests
{
    [Test]
    public void MeanOfClips_AveragesLogits_ThenSoftmax()
    {
        var classes = EmotionClasses.Seven;
        var a = new ClipResult(new float[] { 1, 0, 0, 0, 0, 0, 3 }, new float[7], "fear");
        var b = new ClipResult(new float[] { 3, 0, 0, 0, 0, 0, -1 }, new float[7], "happy");
        ClipResult mean = VideoScores.Mean(new[] { a, b }, classes);
        Assert.That(mean.Logits, Is.EqualTo(new float[] { 2, 0, 0, 0, 0, 0, 1 }));
        // softmax by hand: e^2 / (e^2 + 5 + e^1)
        double z = Math.Exp(2) + 5 + Math.Exp(1);
        Assert.That(mean.Probabilities[0], Is.EqualTo(Math.Exp(2) / z).Within(1e-7));
        Assert.That(mean.Probabilities[6], Is.EqualTo(Math.E / z).Within(1e-7));
        Assert.That(mean.Label, Is.EqualTo("happy"));
    }

    [Test]
    public void OneClip_KeepsItsScores()
    {
        var a = new ClipResult(new float[] { 1, 2, 3, 4, 5, 6, 7 }, new float[] { 0, 0, 0, 0, 0, 0, 1 }, "fear");
        Assert.That(VideoScores.Mean(new[] { a }, EmotionClasses.Seven), Is.SameAs(a));
    }
}
