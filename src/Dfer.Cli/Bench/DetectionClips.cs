using System.Text.Json;
using Dfer.Faces;
using Dfer.Media;
using Dfer.Weights.TfJs;

namespace Dfer.Cli.Bench;

/// <summary>What happens to a photo along one clip of the detection benchmark (docs/detection-benchmark.md).</summary>
internal enum ClipKind
{
    /// <summary>Slow zoom in towards the faces (to 1.8×) and back out; the view stays inside the photo.</summary>
    Zoom,

    /// <summary>At 1.6× zoom, the view pans from the photo's left edge to its right edge.</summary>
    Pan,

    /// <summary>The photo shrinks (geometrically) until its median face is <see cref="DetectionClips.SmallFace"/>
    /// pixels.</summary>
    Small,

    /// <summary>At 1.2× zoom on the faces (the view kept inside the photo), the frame turns to +10°, back through 0
    /// to −10° and back.</summary>
    Rotate,

    /// <summary>The whole photo, its pixel values multiplied by a factor falling from 1 to 0.3.</summary>
    Dark,

    /// <summary>The whole photo, Gaussian-blurred with σ rising from 0.5 to 3 pixels.</summary>
    Blur,
}

/// <summary>One photo of the benchmark and its faces, in photo pixels.</summary>
internal sealed record PhotoTruth(string Photo, int Width, int Height, IReadOnlyList<FaceBox> Faces);

/// <summary>One clip: <paramref name="Frames"/> frames of <paramref name="Kind"/> made from
/// <paramref name="Photo"/>.</summary>
internal sealed record ClipSpec(PhotoTruth Photo, ClipKind Kind, int Frames)
{
    public string Name => $"{Path.GetFileNameWithoutExtension(Photo.Photo)} {DetectionClips.Name(Kind)}";
}

/// <summary>The faces of one frame: those to find, and those mostly outside the frame, which count neither as
/// found nor as missed (<see cref="DetectionClips.MinVisible"/>). Both are clipped to the frame.</summary>
internal sealed record FrameTruth(IReadOnlyList<FaceBox> Faces, IReadOnlyList<FaceBox> Ignored);

/// <summary>
/// Where a frame looks at its photo. The photo is first resized (antialiased) by <see cref="ScaleX"/>,
/// <see cref="ScaleY"/> (the resized photo's size over the photo's: equal up to rounding); a photo point p then lands
/// at <c>f = R(Angle)·(S·p − S·c) + (Width/2, Height/2)</c>, c = (<see cref="CenterX"/>, <see cref="CenterY"/>) in
/// photo pixels, R a rotation by <see cref="Angle"/> radians (clockwise on screen, y pointing down), pixels
/// continuous (pixel i spans [i, i + 1)).
/// </summary>
internal readonly record struct View(double ScaleX, double ScaleY, double CenterX, double CenterY, double Angle,
    int Width, int Height)
{
    /// <summary>Where photo point (x, y) lands in the frame.</summary>
    public (double X, double Y) Map(double x, double y)
    {
        double dx = ScaleX * (x - CenterX), dy = ScaleY * (y - CenterY);
        double cos = Math.Cos(Angle), sin = Math.Sin(Angle);
        return (cos * dx - sin * dy + Width / 2.0, sin * dx + cos * dy + Height / 2.0);
    }

    /// <summary>
    /// A photo box in the frame, unclipped. Without rotation, its mapped corners. Rotated, the axis-aligned box of
    /// its four mapped corners overstates the face (a square turned 10° has a box 16 % wider), so the box keeps that
    /// box's centre with each side halfway between the box's and the scaled, unturned face's: at 10° a square face's
    /// box is 8 % wider than the face.
    /// </summary>
    public FaceBox MapBox(FaceBox box)
    {
        var corners = new[] { Map(box.X0, box.Y0), Map(box.X1, box.Y0), Map(box.X0, box.Y1), Map(box.X1, box.Y1) };
        double x0 = corners.Min(c => c.X), x1 = corners.Max(c => c.X), y0 = corners.Min(c => c.Y),
            y1 = corners.Max(c => c.Y);
        double w = (x1 - x0 + ScaleX * box.Width) / 2, h = (y1 - y0 + ScaleY * box.Height) / 2;
        double cx = (x0 + x1) / 2, cy = (y0 + y1) / 2;
        return new FaceBox(cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2, box.Score);
    }
}

/// <summary>
/// The detection benchmark's clips (docs/detection-benchmark.md): face-api's six demo photos, with their faces from
/// perf/detection/faces.json (embedded), made deterministically into <see cref="FrameWidth"/>-pixel-wide clips of
/// each <see cref="ClipKind"/>, every frame with its faces mapped exactly.
/// </summary>
internal static class DetectionClips
{
    /// <summary>Width of every frame; the height keeps the photo's aspect ratio (even).</summary>
    public const int FrameWidth = 640;

    public const int DefaultFrames = 24;

    /// <summary>The median face's side (mean of width and height) at the end of a <see cref="ClipKind.Small"/>
    /// clip.</summary>
    public const double SmallFace = 32;

    /// <summary>A face with less than this share of its box inside the frame is ignored.</summary>
    public const double MinVisible = 0.6;

    public const double ZoomPeak = 1.8, PanZoom = 1.6, RotateZoom = 1.2, MaxAngleDegrees = 10;
    public const double DarkEnd = 0.3, BlurStart = 0.5, BlurEnd = 3;

    /// <summary>Grey where a frame shows no photo.</summary>
    public const byte Background = 118;

    public static IReadOnlyList<ClipKind> Kinds { get; } = Enum.GetValues<ClipKind>();

    public static string Name(ClipKind kind) => kind.ToString().ToLowerInvariant();

    /// <summary>The photos and faces of perf/detection/faces.json, embedded in the CLI.</summary>
    public static IReadOnlyList<PhotoTruth> LoadTruth()
    {
        using var stream = typeof(DetectionClips).Assembly.GetManifestResourceStream("Dfer.Cli.Bench.faces.json")
            ?? throw new InvalidOperationException("perf/detection/faces.json is not embedded in the CLI");
        return ParseTruth(JsonDocument.Parse(stream).RootElement);
    }

    internal static IReadOnlyList<PhotoTruth> ParseTruth(JsonElement root) =>
        root.GetProperty("photos").EnumerateArray().Select(p => new PhotoTruth(
            p.GetProperty("photo").GetString()!, p.GetProperty("width").GetInt32(), p.GetProperty("height").GetInt32(),
            p.GetProperty("faces").EnumerateArray().Select(f =>
            {
                var b = f.GetProperty("box").EnumerateArray().Select(v => v.GetDouble()).ToArray();
                return new FaceBox(b[0], b[1], b[2], b[3], 1);
            }).ToArray())).ToArray();

    /// <summary>Every clip, photo by photo, each photo's in <see cref="Kinds"/> order.</summary>
    public static IReadOnlyList<ClipSpec> Clips(IReadOnlyList<PhotoTruth> photos, int frames) =>
        photos.SelectMany(p => Kinds.Select(k => new ClipSpec(p, k, frames))).ToArray();

    /// <summary>Reads a photo from the face-api package's demo folder, checking its size against the truth.</summary>
    public static RgbImage ReadPhoto(PhotoTruth photo)
    {
        string path = Path.Combine(FaceApiPackage.Directory, "demo", photo.Photo);
        if (!File.Exists(path))
            throw new DferException($"face-api's demo photo {path} is missing: run ./scripts/fetch-face-api.sh");
        var image = MediaInput.ReadFrames(path)[0];
        if (image.Width != photo.Width || image.Height != photo.Height)
            throw DferException.ForFile(path, $"is {image.Width}x{image.Height}, the benchmark's faces are of a "
                + $"{photo.Width}x{photo.Height} photo");
        return image;
    }

    /// <summary>The frames' height for <paramref name="photo"/>: its aspect ratio at <see cref="FrameWidth"/>,
    /// rounded to even.</summary>
    public static int FrameHeight(PhotoTruth photo) =>
        Math.Max(2, 2 * (int)Math.Round(FrameWidth * (double)photo.Height / photo.Width / 2));

    /// <summary>Frame <paramref name="i"/>'s zoom over the photo-fills-the-width scale, centre (photo pixels), angle
    /// (radians), brightness factor and blur σ (0: none).</summary>
    public static (double Zoom, double Cx, double Cy, double Angle, double Brightness, double Sigma) Plan(
        ClipSpec clip, int i)
    {
        var p = clip.Photo;
        double t = clip.Frames > 1 ? (double)i / (clip.Frames - 1) : 0;
        double pcx = p.Width / 2.0, pcy = p.Height / 2.0;
        double fx0 = p.Faces.Min(f => f.X0), fx1 = p.Faces.Max(f => f.X1), fy0 = p.Faces.Min(f => f.Y0),
            fy1 = p.Faces.Max(f => f.Y1);
        double ucx = (fx0 + fx1) / 2, ucy = (fy0 + fy1) / 2;
        double bump = Math.Sin(Math.PI * t);
        // A centre at which a view of 1/zoom of the photo stays inside it (the faces' centre, moved as little as
        // needed).
        (double, double) Inside(double zoom, double x, double y)
        {
            double hw = p.Width / zoom / 2, hh = p.Height / zoom / 2;
            return (Math.Clamp(x, hw, p.Width - hw), Math.Clamp(y, hh, p.Height - hh));
        }
        switch (clip.Kind)
        {
            case ClipKind.Zoom:
                {
                    double zoom = 1 + (ZoomPeak - 1) * bump;
                    var (x, y) = Inside(zoom, pcx + (ucx - pcx) * bump, pcy + (ucy - pcy) * bump);
                    return (zoom, x, y, 0, 1, 0);
                }
            case ClipKind.Pan:
                {
                    // The view (1/PanZoom of the photo) slides from the left edge to the right edge.
                    double halfW = p.Width / PanZoom / 2, halfH = p.Height / PanZoom / 2;
                    return (PanZoom, halfW + (p.Width - 2 * halfW) * t, Math.Clamp(ucy, halfH, p.Height - halfH), 0,
                        1, 0);
                }
            case ClipKind.Small:
                {
                    double baseScale = (double)FrameWidth / p.Width;
                    var sides = p.Faces.Select(f => (f.Width + f.Height) / 2).Order().ToArray();
                    double median = sides.Length % 2 == 1 ? sides[sides.Length / 2]
                        : (sides[sides.Length / 2 - 1] + sides[sides.Length / 2]) / 2;
                    double end = SmallFace / (median * baseScale);
                    return (Math.Pow(end, t), pcx, pcy, 0, 1, 0);
                }
            case ClipKind.Rotate:
                {
                    var (x, y) = Inside(RotateZoom, ucx, ucy);
                    return (RotateZoom, x, y, MaxAngleDegrees * Math.PI / 180 * Math.Sin(2 * Math.PI * t), 1, 0);
                }
            case ClipKind.Dark:
                return (1, pcx, pcy, 0, 1 - (1 - DarkEnd) * t, 0);
            case ClipKind.Blur:
                return (1, pcx, pcy, 0, 1, BlurStart + (BlurEnd - BlurStart) * t);
            default:
                throw new ArgumentOutOfRangeException(nameof(clip), clip.Kind, "unknown clip kind");
        }
    }

    /// <summary>The frames of <paramref name="clip"/> from its decoded photo, with their faces.</summary>
    public static (RgbImage[] Frames, FrameTruth[] Truth) Render(ClipSpec clip, RgbImage photo)
    {
        var p = clip.Photo;
        int fw = FrameWidth, fh = FrameHeight(p);
        double baseScale = (double)fw / p.Width;
        var frames = new RgbImage[clip.Frames];
        var truth = new FrameTruth[clip.Frames];
        var resized = new Dictionary<(int, int), RgbImage>();
        for (int i = 0; i < clip.Frames; i++)
        {
            var (zoom, cx, cy, angle, brightness, sigma) = Plan(clip, i);
            int w = Math.Max(1, (int)Math.Round(p.Width * baseScale * zoom)),
                h = Math.Max(1, (int)Math.Round(p.Height * baseScale * zoom));
            if (!resized.TryGetValue((w, h), out var scaled))
            {
                resized.Clear(); // a clip's frames share one scale or each have their own
                resized[(w, h)] = scaled = PilResize.Resize(photo, w, h, ResizeFilter.Bilinear);
            }
            var view = new View((double)w / p.Width, (double)h / p.Height, cx, cy, angle, fw, fh);
            var frame = Sample(scaled, view);
            if (brightness < 1) Darken(frame, brightness);
            if (sigma > 0) frame = Blur(frame, sigma);
            frames[i] = frame;
            truth[i] = Truth(p.Faces, view);
        }
        return (frames, truth);
    }

    /// <summary>The photo's faces in a frame: mapped (<see cref="View.MapBox"/>), clipped to the frame, ignored when
    /// less than <see cref="MinVisible"/> of the mapped box is inside; a face wholly outside is dropped.</summary>
    internal static FrameTruth Truth(IReadOnlyList<FaceBox> faces, View view)
    {
        var found = new List<FaceBox>();
        var ignored = new List<FaceBox>();
        foreach (var face in faces)
        {
            var box = view.MapBox(face);
            var inside = new FaceBox(Math.Max(0, box.X0), Math.Max(0, box.Y0), Math.Min(view.Width, box.X1),
                Math.Min(view.Height, box.Y1), box.Score);
            if (inside.Width <= 0 || inside.Height <= 0) continue;
            (inside.Area >= MinVisible * box.Area ? found : ignored).Add(inside);
        }
        return new FrameTruth(found, ignored);
    }

    /// <summary>The frame of <paramref name="view"/> from the resized photo, bilinear; grey outside it.</summary>
    internal static RgbImage Sample(RgbImage scaled, View view)
    {
        int fw = view.Width, fh = view.Height, sw = scaled.Width, sh = scaled.Height;
        var dst = new byte[fw * fh * 3];
        var src = scaled.Pixels;
        double cos = Math.Cos(view.Angle), sin = Math.Sin(view.Angle);
        double ox = view.ScaleX * view.CenterX, oy = view.ScaleY * view.CenterY;
        for (int y = 0; y < fh; y++)
            for (int x = 0; x < fw; x++)
            {
                // The inverse of View.Map, at the pixel's centre, into the resized photo's pixel-centre grid.
                double dx = x + 0.5 - fw / 2.0, dy = y + 0.5 - fh / 2.0;
                double u = cos * dx + sin * dy + ox - 0.5, v = -sin * dx + cos * dy + oy - 0.5;
                int o = (y * fw + x) * 3;
                if (u < -0.5 || v < -0.5 || u > sw - 0.5 || v > sh - 0.5)
                {
                    dst[o] = dst[o + 1] = dst[o + 2] = Background;
                    continue;
                }
                u = Math.Clamp(u, 0, sw - 1);
                v = Math.Clamp(v, 0, sh - 1);
                int u0 = Math.Min((int)u, sw - 1), v0 = Math.Min((int)v, sh - 1);
                int u1 = Math.Min(u0 + 1, sw - 1), v1 = Math.Min(v0 + 1, sh - 1);
                double a = u - u0, b = v - v0;
                for (int c = 0; c < 3; c++)
                {
                    double top = src[(v0 * sw + u0) * 3 + c] * (1 - a) + src[(v0 * sw + u1) * 3 + c] * a;
                    double bottom = src[(v1 * sw + u0) * 3 + c] * (1 - a) + src[(v1 * sw + u1) * 3 + c] * a;
                    dst[o + c] = (byte)Math.Clamp(Math.Round(top * (1 - b) + bottom * b), 0, 255);
                }
            }
        return new RgbImage(fw, fh, dst);
    }

    /// <summary>Every value times <paramref name="factor"/>, rounded, in place.</summary>
    internal static void Darken(RgbImage image, double factor)
    {
        var px = image.Pixels;
        for (int i = 0; i < px.Length; i++) px[i] = (byte)Math.Round(px[i] * factor);
    }

    /// <summary>A separable Gaussian blur of standard deviation <paramref name="sigma"/> pixels (radius ⌈3σ⌉, edges
    /// repeated).</summary>
    internal static RgbImage Blur(RgbImage image, double sigma)
    {
        int r = (int)Math.Ceiling(3 * sigma), w = image.Width, h = image.Height;
        var k = new double[2 * r + 1];
        for (int i = -r; i <= r; i++) k[i + r] = Math.Exp(-i * i / (2 * sigma * sigma));
        double sum = k.Sum();
        for (int i = 0; i < k.Length; i++) k[i] /= sum;
        var src = image.Pixels;
        var mid = new float[src.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double s = 0;
                    for (int i = -r; i <= r; i++) s += k[i + r] * src[(y * w + Math.Clamp(x + i, 0, w - 1)) * 3 + c];
                    mid[(y * w + x) * 3 + c] = (float)s;
                }
        var dst = new byte[src.Length];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++)
                for (int c = 0; c < 3; c++)
                {
                    double s = 0;
                    for (int i = -r; i <= r; i++) s += k[i + r] * mid[(Math.Clamp(y + i, 0, h - 1) * w + x) * 3 + c];
                    dst[(y * w + x) * 3 + c] = (byte)Math.Clamp(Math.Round(s), 0, 255);
                }
        return new RgbImage(w, h, dst);
    }
}
