using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace Dfer.Load;

/// <summary>The answer read from a raw connection: status (0 when the server closed without one) and body.</summary>
internal sealed record RawAnswer(int Status, byte[] Body, string Note);

/// <summary>
/// HTTP/1.1 over a bare socket, for the requests HttpClient will not make: a body streamed past the server's limit,
/// a body that stops halfway, a client that closes before the answer. Every socket comes from
/// <see cref="Loopback.ConnectAsync"/>.
/// </summary>
internal static class RawHttp
{
    /// <summary>The request line and headers of a POST to <paramref name="path"/>.</summary>
    public static byte[] Head(Uri server, string path, IEnumerable<(string Name, string Value)> headers)
    {
        var text = new StringBuilder();
        text.Append(CultureInfo.InvariantCulture, $"POST {path} HTTP/1.1\r\nHost: {server.Authority}\r\n");
        foreach (var (name, value) in headers) text.Append(CultureInfo.InvariantCulture, $"{name}: {value}\r\n");
        text.Append("\r\n");
        return Encoding.ASCII.GetBytes(text.ToString());
    }

    /// <summary>
    /// Sends <paramref name="head"/>, then body bytes from <paramref name="body"/> (called with a buffer, returns how
    /// many bytes it filled, 0 at the end) while reading the answer; stops sending as soon as an answer starts or the
    /// server closes. Gives up after <paramref name="timeout"/>.
    /// </summary>
    public static async Task<(RawAnswer Answer, long Sent)> PostStreamingAsync(Uri server, byte[] head,
        Func<Memory<byte>, int> body, TimeSpan timeout, CancellationToken cancel)
    {
        using var limit = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        limit.CancelAfter(timeout);
        using Socket socket = await Loopback.ConnectAsync(server.Host, server.Port, limit.Token).ConfigureAwait(false);
        await using var stream = new NetworkStream(socket, ownsSocket: false);
        Task<RawAnswer> reading = ReadAnswerAsync(stream, limit.Token);
        long sent = 0;
        string note = "";
        try
        {
            await stream.WriteAsync(head, limit.Token).ConfigureAwait(false);
            var buffer = new byte[1 << 20];
            while (!reading.IsCompleted)
            {
                int n = body(buffer);
                if (n == 0) break;
                await stream.WriteAsync(buffer.AsMemory(0, n), limit.Token).ConfigureAwait(false);
                sent += n;
            }
        }
        catch (IOException)
        {
            note = "the server closed the connection while the body was sent";
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return (new RawAnswer(0, [], $"no answer in {timeout.TotalSeconds:0} s"), sent);
        }
        try
        {
            RawAnswer answer = await reading.ConfigureAwait(false);
            return (answer with { Note = answer.Status == 0 && note.Length > 0 ? note : answer.Note }, sent);
        }
        catch (OperationCanceledException) when (!cancel.IsCancellationRequested)
        {
            return (new RawAnswer(0, [], $"no answer in {timeout.TotalSeconds:0} s"), sent);
        }
    }

    /// <summary>
    /// Reads one HTTP/1.1 answer: the status line, the headers, and a body of Content-Length (at most 64 KiB kept).
    /// Status 0 when the connection closes or resets first.
    /// </summary>
    public static async Task<RawAnswer> ReadAnswerAsync(Stream stream, CancellationToken cancel)
    {
        var received = new List<byte>();
        var buffer = new byte[8192];
        int headEnd = -1;
        try
        {
            while (headEnd < 0)
            {
                int n = await stream.ReadAsync(buffer, cancel).ConfigureAwait(false);
                if (n == 0) return new RawAnswer(0, [], "the server closed the connection without an answer");
                received.AddRange(buffer.AsSpan(0, n));
                if (received.Count > 65536) return new RawAnswer(0, [], "answer headers over 64 KiB");
                headEnd = IndexOf(received, "\r\n\r\n"u8);
            }
            string headText = Encoding.ASCII.GetString(received.GetRange(0, headEnd).ToArray());
            string[] lines = headText.Split("\r\n");
            string[] statusLine = lines[0].Split(' ', 3);
            if (statusLine.Length < 2 || !int.TryParse(statusLine[1], CultureInfo.InvariantCulture, out int status))
                return new RawAnswer(0, [],
                    $"not an HTTP status line: {Payloads.Excerpt(Encoding.ASCII.GetBytes(lines[0]))}");
            long length = 0;
            bool chunked = false;
            foreach (string line in lines.Skip(1))
            {
                int colon = line.IndexOf(':');
                if (colon <= 0) continue;
                string name = line[..colon].Trim(), value = line[(colon + 1)..].Trim();
                if (name.Equals("Content-Length", StringComparison.OrdinalIgnoreCase))
                    long.TryParse(value, CultureInfo.InvariantCulture, out length);
                else if (name.Equals("Transfer-Encoding", StringComparison.OrdinalIgnoreCase))
                    chunked = value.Contains("chunked", StringComparison.OrdinalIgnoreCase);
            }
            var body = received.Skip(headEnd + 4).ToList();
            byte[]? data = null;
            while (chunked ? !TryDechunk(body.ToArray(), out data) : body.Count < Math.Min(length, 65536))
            {
                if (body.Count > 65536) break;
                int n = await stream.ReadAsync(buffer, cancel).ConfigureAwait(false);
                if (n == 0) break;
                body.AddRange(buffer.AsSpan(0, n));
            }
            return new RawAnswer(status, data ?? body.Take(65536).ToArray(), "");
        }
        catch (IOException)
        {
            return new RawAnswer(0, [], "the server reset the connection without an answer");
        }
    }

    /// <summary>
    /// The data of a chunked body (<c>SIZE-IN-HEX\r\nDATA\r\n</c> ... <c>0\r\n\r\n</c>): true with the data
    /// once <paramref name="wire"/> holds the last chunk; false while it is incomplete or not chunks at all.
    /// </summary>
    public static bool TryDechunk(byte[] wire, out byte[]? data)
    {
        data = null;
        var collected = new List<byte>();
        int at = 0;
        while (true)
        {
            int eol = Array.IndexOf(wire, (byte)'\n', at);
            if (eol < 0) return false;
            string sizeText = Encoding.ASCII.GetString(wire, at, eol - at).Trim().Split(';')[0];
            if (!int.TryParse(sizeText, NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out int size)
                || size < 0 || eol + 1 + size + 2 > wire.Length) return false;
            if (size == 0)
            {
                data = collected.ToArray();
                return true;
            }
            collected.AddRange(wire.AsSpan(eol + 1, size));
            at = eol + 1 + size + 2;
        }
    }

    private static int IndexOf(List<byte> data, ReadOnlySpan<byte> pattern)
    {
        for (int i = 0; i + pattern.Length <= data.Count; i++)
        {
            int j = 0;
            while (j < pattern.Length && data[i + j] == pattern[j]) j++;
            if (j == pattern.Length) return i;
        }
        return -1;
    }

    /// <summary>
    /// Sends <paramref name="head"/> and the first <paramref name="bodyBytes"/> of <paramref name="body"/>, then
    /// closes: gracefully (FIN) or, when <paramref name="reset"/>, with an RST (linger 0).
    /// </summary>
    public static async Task VanishAsync(Uri server, byte[] head, byte[] body, int bodyBytes, bool reset,
        CancellationToken cancel)
    {
        using Socket socket = await Loopback.ConnectAsync(server.Host, server.Port, cancel).ConfigureAwait(false);
        await socket.SendAsync(head, SocketFlags.None, cancel).ConfigureAwait(false);
        await socket.SendAsync(body.AsMemory(0, bodyBytes), SocketFlags.None, cancel).ConfigureAwait(false);
        if (reset) socket.LingerState = new LingerOption(true, 0);
        else socket.Shutdown(SocketShutdown.Both);
        socket.Close();
    }
}
