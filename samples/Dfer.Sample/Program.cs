// Scores a video with face-api's expression net through the Dfer library and prints its timeline
// (README, "Use Dfer as a library"; docs/library.md). Usage: dotnet run -- VIDEO
using Dfer;

if (args.Length != 1)
{
    Console.Error.WriteLine("usage: Dfer.Sample VIDEO (a video file or a folder of frames)");
    return 2;
}
try
{
    using var model = DferModel.Load("expression");
    VideoResult video = model.ScoreVideo(args[0]);
    Console.WriteLine($"{video.Input}: {video.Label} ({video.Probabilities.Max():F2}) on {model.Backend}");
    foreach (FrameScores frame in video.Frames.Where(f => f.Label is not null))
    {
        string time = frame.Time is double t ? $"{t,6:F2} s" : $"frame {frame.Frame}";
        var top = frame.Probabilities!.Select((p, i) => (p, i)).Max();
        Console.WriteLine($"{time}  {frame.Label,-8} {top.p:F2}  face at ({frame.Face!.X:F0}, {frame.Face.Y:F0})");
    }
    return 0;
}
catch (DferException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
