using System.Text;
using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.Cuda;

namespace Dfer.Devices.Cuda;

/// <summary>
/// The native CUDA backend's device: hand-written kernels (native/kernels/*.cu) loaded and launched through
/// the driver API inside the CUDA context of an ILGPU CUDA accelerator, so ILGPU buffers are passed to them
/// directly (<see cref="Ptr{T}(ArrayView{T})"/>). Native work goes to this device's own blocking stream
/// (<see cref="Stream"/>): unlike ILGPU's default stream (the legacy NULL stream) it can be captured into a CUDA graph,
/// and being blocking it stays ordered with ILGPU's launches both ways.
/// Does not own the <see cref="IlgpuDevice"/>: dispose this first. Not thread-safe (like IlgpuDevice), but
/// makes the context current on whichever thread calls it.
/// </summary>
public sealed unsafe class CudaDevice : IDisposable
{
    /// <summary>The most blocks a grid-stride kernel is launched with; it loops over the items past them.</summary>
    public const long MaxGridStrideBlocks = 1 << 20;

    /// <summary>A grid-stride kernel's grid.x: one block per <paramref name="perBlock"/> items, at most
    /// <see cref="MaxGridStrideBlocks"/>.</summary>
    public static uint GridStride(long items, long perBlock)
        => (uint)Math.Min((items + perBlock - 1) / perBlock, MaxGridStrideBlocks);

    /// <summary>Dynamic shared memory a kernel may use without opting in (CUDA's default limit).</summary>
    internal const int DefaultDynamicSmemLimit = 48 * 1024;

    private sealed record LoadedModule(CudaModuleHandle Handle, KernelModuleImage Image, string JitLog);

    private readonly IlgpuDevice _ilgpu;
    private readonly CudaAccelerator _accelerator;
    private readonly KernelLocator _locator;
    private readonly IntPtr _context;
    private readonly Dictionary<string, LoadedModule> _modules = new(StringComparer.Ordinal);
    private readonly Dictionary<(string, string), CudaKernel> _kernels = new();
    private readonly int _maxDynamicSmem;
    private readonly CudaStreamHandle _stream, _copyStream;
    private MemoryBuffer1D<byte, Stride1D.Dense>? _flushScratch;
    private bool _disposed;

    private CudaDevice(IlgpuDevice ilgpu, CudaAccelerator accelerator, KernelLocator locator, CudaVariants variants)
    {
        _ilgpu = ilgpu;
        Variants = variants;
        _accelerator = accelerator;
        _locator = locator;
        // ILGPU's CudaAccelerator.NativePtr is the CUcontext it created (cuCtxCreate). Its default stream is the
        // legacy NULL stream (StreamPtr = 0), which a graph cannot capture; a stream created with flags 0 (blocking)
        // synchronises with the NULL stream both ways, so ILGPU's launches and ours stay in program order.
        _context = accelerator.NativePtr;
        ComputeCapability = (accelerator.Architecture.Major, accelerator.Architecture.Minor);
        MultiprocessorCount = accelerator.NumMultiprocessors;
        L2CacheBytes = accelerator.L2CacheSize;
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuStreamCreate(out IntPtr stream, 0));
        _stream = new CudaStreamHandle(stream);
        CudaCheck.Check(CudaDriver.cuStreamCreate(out IntPtr copy, 0));
        _copyStream = new CudaStreamHandle(copy);
        CudaCheck.Check(CudaDriver.cuCtxGetDevice(out int device));
        CudaCheck.Check(
            CudaDriver.cuDeviceGetAttribute(out _maxDynamicSmem, CudaDriver.DeviceMaxSharedMemoryPerBlockOptin,
            device));
    }

    /// <summary>
    /// Opens the native backend over <paramref name="ilgpu"/>, which must be an ILGPU CUDA device; kernels come from
    /// <see cref="KernelLocator.Default"/>. Throws <see cref="DferException"/> when <paramref name="ilgpu"/> is not
    /// CUDA or no kernels can be had (the message is <see cref="KernelLocator.UnavailableReason"/>). Kernels take
    /// <paramref name="variants"/>' pins and modes, by default the environment's
    /// (<see cref="CudaVariants.FromEnvironment"/>).
    /// </summary>
    public static CudaDevice Open(IlgpuDevice ilgpu, CudaVariants? variants = null)
        => Open(ilgpu, KernelLocator.Default, variants);

    internal static CudaDevice Open(IlgpuDevice ilgpu, KernelLocator locator, CudaVariants? variants = null)
    {
        if (ilgpu.Target != IlgpuTarget.Cuda || ilgpu.Accelerator is not CudaAccelerator accelerator)
            throw new DferException($"backend cuda: needs an ILGPU CUDA device, got {ilgpu.Description}");
        if (locator.UnavailableReason() is string reason) throw new DferException($"backend cuda: {reason}");
        return new CudaDevice(ilgpu, accelerator, locator, variants ?? CudaVariants.FromEnvironment());
    }

    /// <summary>
    /// Null when this backend can run here: ILGPU finds a CUDA device (<see cref="IlgpuDevice.CudaUnavailableReason"/>)
    /// and kernels can be had (prebuilt or NVRTC, <see cref="KernelLocator.UnavailableReason"/>); otherwise one line
    /// saying why.
    /// </summary>
    public static string? UnavailableReason()
    {
        if (IlgpuDevice.CudaUnavailableReason() is string gpu)
            return gpu.Contains("GPU", StringComparison.Ordinal) ? gpu : $"no usable NVIDIA GPU: {gpu}";
        return KernelLocator.Default.UnavailableReason();
    }

    /// <summary>The ILGPU device this runs on (its context, stream and memory).</summary>
    public IlgpuDevice Ilgpu => _ilgpu;

    /// <summary>Compute capability (major, minor), e.g. (9, 0) on an H100.</summary>
    public (int Major, int Minor) ComputeCapability { get; }

    /// <summary>Compute capability as the number in <c>sm_XY</c>: 10 * major + minor.</summary>
    public int Sm => ComputeCapability.Major * 10 + ComputeCapability.Minor;

    /// <summary>Streaming multiprocessors on the GPU.</summary>
    public int MultiprocessorCount { get; }

    /// <summary>L2 cache size in bytes.</summary>
    public long L2CacheBytes { get; }

    /// <summary>The CUstream every native launch, copy and memset goes to: this device's own blocking stream.</summary>
    public IntPtr Stream => _stream.DangerousGetHandle();

    /// <summary>A second blocking stream for uploads, so the next batch's input travels while <see cref="Stream"/>
    /// computes.</summary>
    public IntPtr CopyStream => _copyStream.DangerousGetHandle();

    /// <summary>The variant pins and modes kernels consult on this device (the one place the cuda backend's are chosen
    /// from).</summary>
    public CudaVariants Variants { get; }

    /// <summary>Whether every launch is followed by a synchronisation (DFER_CUDA_SYNC=1; rules out graph
    /// capture).</summary>
    public bool SyncEachLaunch => Variants.SyncEachLaunch;

    /// <summary>The GPU, its sm, SM count and L2, and where each kernel module came from (or would come from, before
    /// first use).</summary>
    public string Description
    {
        get
        {
            var modules = _locator.Sources.Modules.Select(
                m => $"{m}: {(_modules.TryGetValue(m, out var l) ? l.Image.Origin : _locator.Plan(m, Sm))}");
            return $"{_accelerator.Name} (sm_{Sm}, {MultiprocessorCount} SMs, {L2CacheBytes >> 20} MiB L2); kernels: "
                + (_locator.Sources.Modules.Count == 0 ? "none embedded" : string.Join("; ", modules));
        }
    }

    /// <summary>The JIT info/error log of a loaded module (empty for most cubins); null when the module is not
    /// loaded.</summary>
    public string? JitLog(string module) => _modules.TryGetValue(module, out var l) ? l.JitLog : null;

    /// <summary>
    /// The kernel <paramref name="name"/> of module <paramref name="module"/> (NAME of NAME.cu). The module is located
    /// and loaded once per device (a cached NVRTC image the driver rejects is recompiled once); functions are cached.
    /// Throws <see cref="CudaException"/> when the driver cannot load the module (with the JIT log) or has no such
    /// function.
    /// </summary>
    public CudaKernel Kernel(string module, string name)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (_kernels.TryGetValue((module, name), out var kernel)) return kernel;
        EnsureCurrent();
        LoadedModule loaded = Module(module);
        IntPtr function;
        byte[] utf8 = Encoding.UTF8.GetBytes(name + "\0");
        fixed (byte* n = utf8)
            CudaCheck.Check(CudaDriver.cuModuleGetFunction(out function, loaded.Handle.DangerousGetHandle(), n),
                $"cuModuleGetFunction({module}, \"{name}\")");
        int Attribute(int attribute)
        {
            CudaCheck.Check(CudaDriver.cuFuncGetAttribute(out int value, attribute, function),
                $"cuFuncGetAttribute({name}, {attribute})");
            return value;
        }
        kernel = new CudaKernel(module, name, function, _locator.Sources.LaunchTable(module).GetValueOrDefault(name),
            Attribute(CudaDriver.FuncNumRegs), Attribute(CudaDriver.FuncLocalSizeBytes),
            Attribute(CudaDriver.FuncSharedSizeBytes),
            Attribute(CudaDriver.FuncMaxThreadsPerBlock), ParameterSizes(function));
        _kernels[(module, name)] = kernel;
        return kernel;
    }

    private LoadedModule Module(string module)
    {
        if (_modules.TryGetValue(module, out var loaded)) return loaded;
        KernelModuleImage image = _locator.Locate(module, Sm);
        try
        {
            loaded = Load(image);
        }
        catch (CudaException e) when (image.FromCache
            && e.Status is CudaDriver.ErrorInvalidImage or CudaDriver.ErrorNoBinaryForGpu
                                          or CudaDriver.ErrorInvalidPtx or CudaDriver.ErrorUnsupportedPtxVersion)
        {
            loaded = Load(_locator.Recompile(image, Sm));
        }
        _modules[module] = loaded;
        return loaded;
    }

    private static LoadedModule Load(KernelModuleImage image)
    {
        const int logBytes = 1 << 16;
        byte[] info = new byte[logBytes], error = new byte[logBytes];
        // cuModuleLoadDataEx reads PTX as a NUL-terminated string; a cubin is read by its ELF header.
        byte[] data = image.Kind == KernelImageKind.Ptx ? [.. image.Image, 0] : image.Image;
        fixed (byte* d = data, i = info, e = error)
        {
            int* options = stackalloc int[]
            {
                CudaDriver.JitInfoLogBuffer, CudaDriver.JitInfoLogBufferSizeBytes,
                CudaDriver.JitErrorLogBuffer, CudaDriver.JitErrorLogBufferSizeBytes, CudaDriver.JitLogVerbose,
            };
            void** values = stackalloc void*[] { i, (void*)logBytes, e, (void*)logBytes, (void*)1 };
            int status = CudaDriver.cuModuleLoadDataEx(out IntPtr module, d, 5, options, values);
            string infoLog = CString(info), errorLog = CString(error);
            string log = string.Join(Environment.NewLine,
                new[] { errorLog.Length > 0 ? "JIT error log:\n" + errorLog : "", infoLog.Length > 0 ? "JIT info log:\n"
                + infoLog : "" }
                    .Where(s => s.Length > 0));
            CudaCheck.Check(status, $"cuModuleLoadDataEx({image.Module} from {image.Origin})", () => log);
            return new LoadedModule(new CudaModuleHandle(module), image, log);
        }
    }

    private static string CString(byte[] buffer)
    {
        int end = Array.IndexOf(buffer, (byte)0);
        return Encoding.UTF8.GetString(buffer, 0, end < 0 ? buffer.Length : end).Trim();
    }

    private static int[]? ParameterSizes(IntPtr function)
    {
        var getInfo = CudaDriver.FuncGetParamInfo;
        if (getInfo == null) return null;
        var sizes = new List<int>();
        // The driver answers CUDA_ERROR_INVALID_VALUE past the last parameter; 256 bounds a broken answer.
        for (nuint i = 0; i < 256; i++)
        {
            nuint offset, size;
            if (getInfo(function, i, &offset, &size) != 0) break;
            sizes.Add((int)size);
        }
        return sizes.ToArray();
    }

    /// <summary>
    /// Launches <paramref name="kernel"/> with its single by-value struct parameter <paramref name="args"/>
    /// (kernelParams = { &amp;args }; the driver copies it at launch, so the caller may reuse it at once) on
    /// <see cref="Stream"/>, with grid <paramref name="grid"/>, <paramref name="block"/> threads on x and
    /// <paramref name="dynamicSmem"/> bytes of dynamic shared memory. Above 48 KiB the kernel's limit is raised
    /// first (cuFuncSetAttribute, once per kernel and size). With DFER_CUDA_SYNC=1 the context is synchronised and
    /// checked after the launch, so an asynchronous fault names this launch. Throws <see cref="ArgumentException"/> for
    /// a block that disagrees with the kernel's launch line or limits, a grid or shared size out of range, or (on
    /// drivers that report parameter sizes) an argument whose size is not the kernel's; <see cref="CudaException"/> for
    /// a driver failure.
    /// </summary>
    public void Launch<T>(CudaKernel kernel, (uint x, uint y, uint z) grid, uint block, int dynamicSmem,
        in T args) where T : unmanaged
    {
        T a = args;
        void** parameters = stackalloc void*[] { &a };
        int* sizes = stackalloc int[] { sizeof(T) };
        Launch(kernel, grid, block, dynamicSmem, parameters, sizes, 1);
    }

    /// <summary>As <see cref="Launch{T}"/>, for kernels with three scalar or pointer parameters (pass pointers as
    /// <see cref="IntPtr"/>, e.g. from <see cref="Ptr{T}(ArrayView{T})"/>).</summary>
    public void Launch<T1, T2, T3>(CudaKernel kernel, (uint x, uint y, uint z) grid, uint block, int dynamicSmem, T1 a1,
        T2 a2, T3 a3)
        where T1 : unmanaged where T2 : unmanaged where T3 : unmanaged
    {
        void** parameters = stackalloc void*[] { &a1, &a2, &a3 };
        int* sizes = stackalloc int[] { sizeof(T1), sizeof(T2), sizeof(T3) };
        Launch(kernel, grid, block, dynamicSmem, parameters, sizes, 3);
    }

    private void Launch(CudaKernel k, (uint x, uint y, uint z) grid, uint block, int dynamicSmem, void** parameters,
        int* sizes, int count)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (block == 0 || block > k.MaxThreadsPerBlock)
            throw new ArgumentOutOfRangeException(nameof(block),
                $"{k.Name}: block {block} is outside 1..{k.MaxThreadsPerBlock}");
        if (k.Launch is { } line && line.Block != block)
            throw new ArgumentException(
                $"{k.Name}: block {block} but its launch line ({k.Module}.cu:{line.Line}) says block {line.Block}",
                nameof(block));
        if (grid.x == 0 || grid.y is 0 or > 65535 || grid.z is 0 or > 65535)
            throw new ArgumentOutOfRangeException(nameof(grid),
                $"{k.Name}: grid ({grid.x}, {grid.y}, {grid.z}) needs x >= 1 and y, z in 1..65535");
        if (dynamicSmem < 0 || dynamicSmem + k.StaticSharedBytes > _maxDynamicSmem)
            throw new ArgumentOutOfRangeException(nameof(dynamicSmem),
                $"{k.Name}: {dynamicSmem} B dynamic + {k.StaticSharedBytes} B static shared memory exceeds the "
                + $"GPU's {_maxDynamicSmem} B per block");
        if (k.ParameterSizes is { } declared)
        {
            var given = new int[count];
            for (int i = 0; i < count; i++) given[i] = sizes[i];
            if (!declared.SequenceEqual(given))
                throw new ArgumentException(
                    $"{k.Name}: takes parameters of [{string.Join(", ", declared)}] bytes, given "
                    + $"[{string.Join(", ", given)}]");
        }

        EnsureCurrent();
        if (dynamicSmem > k.DynamicSmemLimit)
        {
            CudaCheck.Check(
                CudaDriver.cuFuncSetAttribute(k.Function, CudaDriver.FuncMaxDynamicSharedSizeBytes, dynamicSmem),
                $"cuFuncSetAttribute({k.Name}, MAX_DYNAMIC_SHARED_SIZE_BYTES, {dynamicSmem})");
            k.DynamicSmemLimit = dynamicSmem;
        }
        CudaCheck.Check(
            CudaDriver.cuLaunchKernel(k.Function, grid.x, grid.y, grid.z, block, 1, 1, (uint)dynamicSmem, Stream,
            parameters, null),
            $"cuLaunchKernel({k.Name}, grid ({grid.x}, {grid.y}, {grid.z}), block {block}, smem {dynamicSmem})");
        if (SyncEachLaunch)
            CudaCheck.Check(CudaDriver.cuCtxSynchronize(), $"cuCtxSynchronize() after {k.Name} (DFER_CUDA_SYNC=1)");
    }

    /// <summary>
    /// The device address of the first element of <paramref name="view"/>: its buffer's NativePtr plus the view's byte
    /// offset into it; <see cref="IntPtr.Zero"/> for an invalid (empty default) view. Throws
    /// <see cref="ArgumentException"/> for a view on a non-CUDA accelerator, whose address a kernel could not use.
    /// </summary>
    public static IntPtr Ptr<T>(ArrayView<T> view) where T : unmanaged
    {
        if (!view.IsValid) return IntPtr.Zero;
        // Buffer and IndexInBytes are explicit interface members of ArrayView<T> in ILGPU 1.5.
        IContiguousArrayView contiguous = view;
        MemoryBuffer buffer = contiguous.Buffer;
        if (buffer.Accelerator is not CudaAccelerator)
            throw new ArgumentException(
                $"the view lives on {buffer.Accelerator.AcceleratorType} memory, not on a CUDA device", nameof(view));
        return buffer.NativePtr + (nint)contiguous.IndexInBytes;
    }

    /// <summary>As <see cref="Ptr{T}(ArrayView{T})"/> for a dense 1-D view (what <c>MemoryBuffer1D.View</c>
    /// returns).</summary>
    public static IntPtr Ptr<T>(ArrayView1D<T, Stride1D.Dense> view) where T : unmanaged => Ptr((ArrayView<T>)view);

    /// <summary>Queues zeroing <paramref name="floats"/> 4-byte words at <paramref name="ptr"/> on <see cref="Stream"/>
    /// (capturable).</summary>
    public void ZeroAsync(IntPtr ptr, long floats)
    {
        if (floats <= 0) return;
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuMemsetD32Async(ptr, 0, (nuint)floats, Stream),
            $"cuMemsetD32Async({floats} words)");
    }

    /// <summary>Queues a copy of <paramref name="bytes"/> from pinned host memory at <paramref name="hostOffset"/> to
    /// the device on <paramref name="stream"/>.</summary>
    internal void CopyToDeviceAsync(IntPtr device, PinnedHostBuffer host, long hostOffset, long bytes, IntPtr stream)
    {
        if (bytes <= 0) return;
        if (hostOffset < 0 || hostOffset + bytes > host.Bytes)
            throw new ArgumentOutOfRangeException(nameof(bytes),
                $"{bytes} bytes at {hostOffset} exceed the pinned buffer's {host.Bytes}");
        EnsureCurrent();
        CudaCheck.Check(
            CudaDriver.cuMemcpyHtoDAsync(device, host.DangerousGetHandle() + (nint)hostOffset, (nuint)bytes, stream),
            $"cuMemcpyHtoDAsync({bytes} bytes)");
    }

    /// <summary>Queues a copy of <paramref name="bytes"/> from the device to pinned host memory at
    /// <paramref name="hostOffset"/> on <see cref="Stream"/>.</summary>
    internal void CopyToHostAsync(PinnedHostBuffer host, long hostOffset, IntPtr device, long bytes)
    {
        if (bytes <= 0) return;
        if (hostOffset < 0 || hostOffset + bytes > host.Bytes)
            throw new ArgumentOutOfRangeException(nameof(bytes),
                $"{bytes} bytes at {hostOffset} exceed the pinned buffer's {host.Bytes}");
        EnsureCurrent();
        CudaCheck.Check(
            CudaDriver.cuMemcpyDtoHAsync(host.DangerousGetHandle() + (nint)hostOffset, device, (nuint)bytes, Stream),
            $"cuMemcpyDtoHAsync({bytes} bytes)");
    }

    /// <summary>An event for ordering streams (no timing).</summary>
    internal CudaEventHandle CreateEvent()
    {
        EnsureCurrent();
        return CudaEventHandle.Create(CudaDriver.EventDisableTiming);
    }

    /// <summary>Records <paramref name="evt"/> on <paramref name="stream"/>: it completes when the work queued there so
    /// far has.</summary>
    internal void Record(CudaEventHandle evt, IntPtr stream)
    {
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuEventRecord(evt.DangerousGetHandle(), stream));
    }

    /// <summary>Makes work queued later on <paramref name="stream"/> wait for <paramref name="evt"/> (the host does not
    /// wait).</summary>
    internal void Wait(IntPtr stream, CudaEventHandle evt)
    {
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuStreamWaitEvent(stream, evt.DangerousGetHandle(), 0));
    }

    /// <summary>Blocks the host until <paramref name="evt"/> completes; a fault of the work before it surfaces
    /// here.</summary>
    internal void Synchronize(CudaEventHandle evt)
    {
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuEventSynchronize(evt.DangerousGetHandle()));
    }

    /// <summary>Waits for the work queued on <see cref="Stream"/> (and, the stream being blocking, the NULL-stream work
    /// before it).</summary>
    public void SynchronizeStream()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuStreamSynchronize(Stream));
    }

    /// <summary>
    /// Records what <paramref name="work"/> queues on <see cref="Stream"/> into a CUDA graph and instantiates it;
    /// nothing runs. Returns null with <paramref name="failure"/> when the work cannot be captured (a driver refusal,
    /// or work that is not capturable, such as a launch on the NULL stream or an allocation, which invalidates the
    /// capture); the stream is out of capture mode either way. Exceptions of <paramref name="work"/> that are not
    /// <see cref="CudaException"/> propagate.
    /// </summary>
    internal CudaGraphExecHandle? Capture(Action work, out string? failure)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        failure = null;
        int begin = CudaDriver.cuStreamBeginCapture(Stream, CudaDriver.StreamCaptureModeThreadLocal);
        if (begin != 0)
        {
            failure = CudaCheck.Failure(begin, "cuStreamBeginCapture", null, useDriver: true).Message;
            return null;
        }
        IntPtr graph = IntPtr.Zero;
        try
        {
            try
            {
                work();
            }
            catch (CudaException e)
            {
                failure = e.Message;
            }
            finally
            {
                // Always leave capture mode; a capture the work invalidated ends with an error and no graph.
                int end = CudaDriver.cuStreamEndCapture(Stream, out graph);
                if (end != 0 && failure is null)
                    failure = CudaCheck.Failure(end, "cuStreamEndCapture", null, useDriver: true).Message;
            }
            if (failure is not null) return null;
            int status = CudaDriver.cuGraphInstantiateWithFlags(out IntPtr exec, graph, 0);
            if (status != 0)
            {
                failure = CudaCheck.Failure(status, "cuGraphInstantiateWithFlags", null, useDriver: true).Message;
                return null;
            }
            return new CudaGraphExecHandle(exec);
        }
        finally
        {
            if (graph != IntPtr.Zero) CudaDriver.cuGraphDestroy(graph);
        }
    }

    /// <summary>Queues a replay of <paramref name="exec"/> on <see cref="Stream"/>.</summary>
    internal void LaunchGraph(CudaGraphExecHandle exec)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuGraphLaunch(exec.DangerousGetHandle(), Stream));
    }

    /// <summary>Waits for all work in the context (every stream) and checks it: kernel faults surface here as
    /// <see cref="CudaException"/>.</summary>
    public void Synchronize()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuCtxSynchronize());
    }

    /// <summary>A timer of GPU time on <see cref="Stream"/> (a pair of events); dispose it before this
    /// device.</summary>
    public CudaTimer CreateTimer()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        EnsureCurrent();
        return new CudaTimer(this);
    }

    /// <summary>
    /// Evicts the L2 cache before a timed repeat: queues a memset of a scratch buffer of 2 ×
    /// <see cref="L2CacheBytes"/>
    /// (allocated at first use, freed with this device) on <see cref="Stream"/>. Asynchronous, like a launch.
    /// </summary>
    public void FlushL2()
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        _flushScratch ??= _ilgpu.Accelerator.Allocate1D<byte>(Math.Max(2 * L2CacheBytes, 1 << 20));
        EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuMemsetD8Async(_flushScratch.NativePtr, 0, (nuint)_flushScratch.Length, Stream));
    }

    /// <summary>Makes the ILGPU context current on this thread when it is not (driver calls act on the current
    /// context).</summary>
    internal void EnsureCurrent()
    {
        CudaCheck.Check(CudaDriver.cuCtxGetCurrent(out IntPtr current));
        if (current != _context) CudaCheck.Check(CudaDriver.cuCtxSetCurrent(_context));
    }

    /// <summary>Unloads the modules and frees the flush buffer; the ILGPU device stays open.</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { EnsureCurrent(); } catch (CudaException) { }   // unloading still runs; a failure is only a leak at exit
        try { CudaDriver.cuCtxSynchronize(); }
        catch (Exception e) when (
            e is DllNotFoundException or EntryPointNotFoundException)
        { }
        foreach (var m in _modules.Values) m.Handle.Dispose();
        _modules.Clear();
        _kernels.Clear();
        _flushScratch?.Dispose();
        _stream.Dispose();
        _copyStream.Dispose();
    }
}

/// <summary>
/// Times GPU work on a <see cref="CudaDevice"/>'s stream with two CUDA events: <see cref="Start"/> records the first,
/// <see cref="Stop"/> records the second, waits for it and returns the elapsed GPU time. Reusable; not thread-safe.
/// </summary>
public sealed class CudaTimer : IDisposable
{
    private readonly CudaDevice _device;
    private readonly CudaEventHandle _start = CudaEventHandle.Create(0), _stop = CudaEventHandle.Create(0);
    private bool _started;

    internal CudaTimer(CudaDevice device) => _device = device;

    /// <summary>Records the start event on the stream (after all work queued so far).</summary>
    public void Start()
    {
        _device.EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuEventRecord(_start.DangerousGetHandle(), _device.Stream));
        _started = true;
    }

    /// <summary>Records the stop event, waits for it, and returns milliseconds of GPU time since <see cref="Start"/>
    /// (event resolution ~0.5 µs).</summary>
    public double Stop()
    {
        if (!_started) throw new InvalidOperationException("CudaTimer.Stop() without Start()");
        _device.EnsureCurrent();
        CudaCheck.Check(CudaDriver.cuEventRecord(_stop.DangerousGetHandle(), _device.Stream));
        CudaCheck.Check(CudaDriver.cuEventSynchronize(_stop.DangerousGetHandle()));
        CudaCheck.Check(
            CudaDriver.cuEventElapsedTime(out float ms, _start.DangerousGetHandle(), _stop.DangerousGetHandle()));
        _started = false;
        return ms;
    }

    /// <summary>Destroys the events.</summary>
    public void Dispose()
    {
        _start.Dispose();
        _stop.Dispose();
    }
}
