using System.Net;
using System.Net.Sockets;

namespace Dfer.Load;

/// <summary>
/// The one rule of dfer-load's reach: it talks to this machine only. A target is accepted when its host is an
/// IPv4 address in 127.0.0.0/8, the IPv6 address ::1 (or ::ffff:127.x.y.z), or the name <c>localhost</c>; every
/// connection is then made through <see cref="ConnectAsync"/>, which also refuses an address that is not loopback
/// (so a hosts file mapping <c>localhost</c> elsewhere is caught too). Nothing else is resolved.
/// </summary>
internal static class Loopback
{
    /// <summary>The accepted hosts, as the refusal names them.</summary>
    public const string Accepted = "127.0.0.0/8, ::1 or localhost";

    /// <summary>Whether <paramref name="address"/> is a loopback address (127.0.0.0/8, ::1,
    /// ::ffff:127.0.0.0/104).</summary>
    public static bool IsLoopback(IPAddress address)
    {
        if (address.IsIPv4MappedToIPv6) address = address.MapToIPv4();
        if (address.AddressFamily == AddressFamily.InterNetwork) return address.GetAddressBytes()[0] == 127;
        return address.Equals(IPAddress.IPv6Loopback);
    }

    /// <summary>Whether a host as written in a URL (brackets around IPv6 allowed) is accepted.</summary>
    public static bool IsLoopbackHost(string host)
    {
        if (host.Length == 0) return false;
        if (string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)) return true;
        string bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        // Only literal addresses: "127.1" and "0x7f.1" are the forms inet_aton accepts, and IPAddress reads them
        // the same way the socket would.
        return IPAddress.TryParse(bare, out IPAddress? address) && IsLoopback(address);
    }

    /// <summary>
    /// Reads a target: <c>http://HOST:PORT</c> (a path is not allowed) or, where <paramref name="schemeOptional"/>,
    /// <c>HOST:PORT</c>. Returns the base URI, or null with <paramref name="error"/> set to one line naming
    /// <paramref name="option"/> and the text.
    /// </summary>
    public static Uri? ParseTarget(string option, string text, bool schemeOptional, out string? error)
    {
        error = null;
        string shown = text.Length <= 80 ? text : text[..80] + "…";
        string candidate = schemeOptional && !text.Contains("://", StringComparison.Ordinal) ? "http://" + text : text;
        if (!Uri.TryCreate(candidate, UriKind.Absolute, out Uri? uri))
        {
            error = $"{option} {shown}: not a URL (expected http://127.0.0.1:PORT)";
            return null;
        }
        if (uri.Scheme != Uri.UriSchemeHttp)
        {
            error = $"{option} {shown}: only http:// (plain text on loopback) is supported";
            return null;
        }
        if (!IsLoopbackHost(uri.Host) || uri.UserInfo.Length > 0)
        {
            error = $"{option} {shown}: not a loopback address ({Accepted}); dfer-load only talks to this machine";
            return null;
        }
        if (uri.AbsolutePath != "/" || uri.Query.Length > 0 || uri.Fragment.Length > 0)
        {
            error = $"{option} {shown}: give the server's base address only (http://HOST:PORT), no path";
            return null;
        }
        if (uri.IsDefaultPort && !text.Contains(":" + uri.Port, StringComparison.Ordinal))
        {
            error = $"{option} {shown}: needs a port (http://HOST:PORT)";
            return null;
        }
        return uri;
    }

    /// <summary>
    /// Connects a TCP socket to <paramref name="host"/>:<paramref name="port"/>, resolving only to loopback
    /// addresses; throws <see cref="LoopbackRefusedException"/> for anything else. Every HTTP, gRPC and raw
    /// connection of dfer-load is made here.
    /// </summary>
    public static async Task<Socket> ConnectAsync(string host, int port, CancellationToken cancel)
    {
        if (!IsLoopbackHost(host)) throw new LoopbackRefusedException(host);
        string bare = host.StartsWith('[') && host.EndsWith(']') ? host[1..^1] : host;
        IPAddress[] addresses = IPAddress.TryParse(bare, out IPAddress? literal)
            ? [literal]
            : await Dns.GetHostAddressesAsync(bare, cancel).ConfigureAwait(false);
        IPAddress[] allowed = addresses.Where(IsLoopback).ToArray();
        if (allowed.Length == 0) throw new LoopbackRefusedException(host);
        Exception? last = null;
        foreach (IPAddress address in allowed)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                await socket.ConnectAsync(new IPEndPoint(address, port), cancel).ConfigureAwait(false);
                return socket;
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                last = ex;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        throw last!;
    }

    /// <summary>A <see cref="SocketsHttpHandler"/> whose every connection goes through
    /// <see cref="ConnectAsync"/>.</summary>
    public static SocketsHttpHandler Handler(int maxConnections) => new()
    {
        MaxConnectionsPerServer = maxConnections,
        EnableMultipleHttp2Connections = true,
        UseProxy = false,
        AllowAutoRedirect = false,
        UseCookies = false,
        PooledConnectionIdleTimeout = TimeSpan.FromSeconds(30),
        ConnectCallback = async (context, cancel) =>
        {
            Socket socket = await ConnectAsync(context.DnsEndPoint.Host, context.DnsEndPoint.Port, cancel)
                .ConfigureAwait(false);
            return new NetworkStream(socket, ownsSocket: true);
        },
    };
}

/// <summary>A host that is not (or does not resolve to) a loopback address.</summary>
internal sealed class LoopbackRefusedException(string host)
    : Exception($"{host}: not a loopback address ({Loopback.Accepted}); dfer-load only talks to this machine");
