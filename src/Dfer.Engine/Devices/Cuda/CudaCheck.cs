using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Dfer.Devices.Cuda;

/// <summary>A failed CUDA driver call: status code, its name, and the call's source text.</summary>
public sealed class CudaException : DferException
{
    internal CudaException(int status, string statusName, string call, string message, string? detail = null)
        : base(message)
    {
        Detail = detail;
        Status = status;
        StatusName = statusName;
        Call = call;
    }

    /// <summary>
    /// What the driver said beyond the status (a JIT log), whole and on its own lines; the one-line
    /// <see cref="Exception.Message"/> carries it escaped and cut (<see cref="DferException.Clean"/>).
    /// </summary>
    public string? Detail { get; }

    /// <summary>The CUresult the call returned (never 0).</summary>
    public int Status { get; }

    /// <summary>The CUresult's name, e.g. <c>CUDA_ERROR_ILLEGAL_ADDRESS</c>.</summary>
    public string StatusName { get; }

    /// <summary>The text of the failing call, e.g. <c>cuCtxSynchronize()</c>.</summary>
    public string Call { get; }
}

/// <summary>
/// The one place a CUDA driver status is checked (docs/architecture.md, "Native boundary"): a non-zero status
/// becomes a <see cref="CudaException"/> whose message is
/// <c>"{NAME} ({code}) in {call}: {description}"</c>, e.g.
/// <c>CUDA_ERROR_ILLEGAL_ADDRESS (700) in cuCtxSynchronize(): an illegal memory access was encountered</c>.
/// </summary>
internal static class CudaCheck
{
    /// <summary>Throws <see cref="CudaException"/> unless <paramref name="status"/> is CUDA_SUCCESS (0).</summary>
    /// <param name="status">A CUresult.</param>
    /// <param name="call">The call's source text (filled in by the compiler); a leading <c>CudaDriver.</c> is
    /// dropped.</param>
    public static void Check(int status, [CallerArgumentExpression(nameof(status))] string call = "")
    {
        if (status != 0) throw Failure(status, call, detail: null, useDriver: true);
    }

    /// <summary>As <see cref="Check(int, string)"/>, with <paramref name="detail"/> (e.g. a JIT log) appended on its
    /// own lines.</summary>
    public static void Check(int status, string call, Func<string?> detail)
    {
        if (status != 0) throw Failure(status, call, detail(), useDriver: true);
    }

    /// <summary>The exception for <paramref name="status"/>; names come from the driver when
    /// <paramref name="useDriver"/> and it loads, else from the built-in table.</summary>
    internal static CudaException Failure(int status, string call, string? detail, bool useDriver)
    {
        (string name, string text) = Describe(status, useDriver);
        call = call.StartsWith("CudaDriver.", StringComparison.Ordinal) ? call["CudaDriver.".Length..] : call;
        string message = $"{name} ({status}) in {call}: {text}";
        detail = string.IsNullOrWhiteSpace(detail) ? null : detail.TrimEnd();
        if (detail is not null) message += $"; {detail}";
        return new CudaException(status, name, call, message, detail);
    }

    /// <summary>Name and description of a CUresult.</summary>
    internal static (string Name, string Text) Describe(int status, bool useDriver)
    {
        if (useDriver && FromDriver(status) is { } d) return d;
        if (Table.TryGetValue(status, out var t)) return t;
        return ($"CUDA_ERROR_{status}", "unrecognised CUDA status");
    }

    private static (string, string)? FromDriver(int status)
    {
        try
        {
            if (!CudaDriver.IsLoadable) return null;
            if (CudaDriver.cuGetErrorName(status, out IntPtr name) != 0 || name == IntPtr.Zero) return null;
            string text = CudaDriver.cuGetErrorString(status, out IntPtr s) == 0 && s != IntPtr.Zero
                ? Marshal.PtrToStringUTF8(s) ?? "" : "";
            return (Marshal.PtrToStringUTF8(name) ?? $"CUDA_ERROR_{status}", text);
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            return null;
        }
    }

    /// <summary>The common CUresults with the driver's own names and texts, for when no driver is loaded.</summary>
    internal static readonly IReadOnlyDictionary<int, (string Name, string Text)> Table =
        new Dictionary<int, (string, string)>
        {
            [1] = ("CUDA_ERROR_INVALID_VALUE", "invalid argument"),
            [2] = ("CUDA_ERROR_OUT_OF_MEMORY", "out of memory"),
            [3] = ("CUDA_ERROR_NOT_INITIALIZED", "initialization error"),
            [4] = ("CUDA_ERROR_DEINITIALIZED", "driver shutting down"),
            [34] = ("CUDA_ERROR_STUB_LIBRARY", "CUDA driver is a stub library"),
            [100] = ("CUDA_ERROR_NO_DEVICE", "no CUDA-capable device is detected"),
            [101] = ("CUDA_ERROR_INVALID_DEVICE", "invalid device ordinal"),
            [200] = ("CUDA_ERROR_INVALID_IMAGE", "device kernel image is invalid"),
            [201] = ("CUDA_ERROR_INVALID_CONTEXT", "invalid device context"),
            [209] = ("CUDA_ERROR_NO_BINARY_FOR_GPU", "no kernel image is available for execution on the device"),
            [218] = ("CUDA_ERROR_INVALID_PTX", "a PTX JIT compilation failed"),
            [222] = ("CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
                "the provided PTX was compiled with an unsupported toolchain."),
            [400] = ("CUDA_ERROR_INVALID_HANDLE", "invalid resource handle"),
            [500] = ("CUDA_ERROR_NOT_FOUND", "named symbol not found"),
            [600] = ("CUDA_ERROR_NOT_READY", "device not ready"),
            [700] = ("CUDA_ERROR_ILLEGAL_ADDRESS", "an illegal memory access was encountered"),
            [701] = ("CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES", "too many resources requested for launch"),
            [702] = ("CUDA_ERROR_LAUNCH_TIMEOUT", "the launch timed out and was terminated"),
            [710] = ("CUDA_ERROR_ASSERT", "device-side assert triggered"),
            [715] = ("CUDA_ERROR_ILLEGAL_INSTRUCTION", "an illegal instruction was encountered"),
            [716] = ("CUDA_ERROR_MISALIGNED_ADDRESS", "misaligned address"),
            [719] = ("CUDA_ERROR_LAUNCH_FAILED", "unspecified launch failure"),
            [900] = ("CUDA_ERROR_STREAM_CAPTURE_UNSUPPORTED", "operation not permitted when stream is capturing"),
            [901] = ("CUDA_ERROR_STREAM_CAPTURE_INVALIDATED",
                "operation failed due to a previous error during capture"),
            [999] = ("CUDA_ERROR_UNKNOWN", "unknown error"),
        };
}
