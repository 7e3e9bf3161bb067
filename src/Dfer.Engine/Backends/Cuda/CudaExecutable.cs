using System.Diagnostics;
using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using Dfer.Ops;
using Dfer.Tensors;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Backends.Cuda;

/// <summary>
/// One step of the cuda backend's lowered graph: <paramref name="Kernel"/> reads <paramref name="Inputs"/> and writes
/// <paramref name="Output"/>; <paramref name="Node"/> is the graph node it reports as (for a fused step, the first of
/// the nodes it covers). An alias step (a reshape) has no kernel: its output shares its input's storage.
/// </summary>
internal sealed record CudaStep(Node Node, IIlgpuKernel? Kernel, int[] Inputs, int Output)
{
    public bool Alias => Kernel is null;
}

/// <summary>
/// A graph compiled for the <c>cuda</c> backend. Per input shape (the two most recent are kept: a dataset's full
/// batches and its last, partial one) it holds:
/// <list type="bullet">
/// <item>one device arena laid out by <see cref="BufferPlan"/>, each value in its own element size (16-bit
/// activations take half the bytes) and each step's scratch in it, so nothing is allocated after the first run;</item>
/// <item>page-locked host buffers for the input and the outputs, copied asynchronously on the backend's stream;</item>
/// <item>a CUDA graph of the whole forward pass, recorded from the stream right after the first (eager) run, which
/// loads the modules and sets the kernels' attributes, and replayed on every later run: a batch costs one
/// launch.</item>
/// </list>
/// Graphs need every step native (<see cref="ICudaStep"/>): a graph with an ILGPU step runs eagerly, and
/// <see cref="Execution"/> says why. DFER_CUDA_GRAPHS=0 turns capture off; DFER_CUDA_SYNC=1 does too, and a timed run
/// (<see cref="Timer"/>) runs eagerly with a synchronisation after each step.
/// </summary>
internal sealed class CudaExecutable : IExecutable
{
    private const int KeptShapes = 2;

    private readonly Graph _graph;
    private readonly CudaDevice _cuda;
    private readonly CudaStep[] _steps;
    private readonly int[] _elementBytes;
    private readonly string? _noGraphs;
    private readonly List<ShapePlan> _plans = new();   // most recently used first

    public CudaExecutable(Graph graph, CudaDevice cuda, IReadOnlyList<CudaStep> steps, int[] elementBytes)
    {
        _graph = graph;
        _cuda = cuda;
        _steps = steps.ToArray();
        _elementBytes = elementBytes;
        foreach (CudaStep s in _steps)
        {
            if (s.Kernel is null or ICudaStep) continue;
            // ILGPU kernels see fp32 views: a 16-bit value must never reach one.
            if (s.Inputs.Append(s.Output).FirstOrDefault(v => elementBytes[v] != 4, -1) is int v and >= 0)
                throw new InvalidOperationException(
                    $"{s.Node.Name}: an ILGPU kernel would touch value {v}, which is stored in {elementBytes[v]} bytes "
                    + "per element");
        }
        _noGraphs = !cuda.Variants.Graphs ? "DFER_CUDA_GRAPHS=0"
            : cuda.SyncEachLaunch ? "DFER_CUDA_SYNC=1 synchronises after each launch"
            : _steps.FirstOrDefault(s => s.Kernel is not null and not ICudaStep) is { } ilgpu
                ? $"{ilgpu.Node.Name} ({ilgpu.Node.Op.Kind.Name}) runs an ILGPU kernel on the legacy stream"
                : null;
    }

    public NodeTimer? Timer { get; set; }

    /// <summary>How the last run executed, in words: replayed from a CUDA graph, or eager and why.</summary>
    public string? Execution { get; private set; }

    public IReadOnlyDictionary<string, float[]> Run(ReadOnlySpan<float> input, int[] shape)
        => Submit(input, shape).Wait();

    public bool Pipelined => true;

    /// <summary>
    /// Queues a run in the next of the shape's two slots and returns at once. The input is staged into the slot's
    /// pinned buffer and uploaded on the copy stream while the run before (the other slot's) still computes; the
    /// compute stream waits for that upload only, and runs the two in order, so they share one arena. The run before in
    /// the same slot is collected first (its outputs stay in its <see cref="PendingRun"/>), which frees the slot's
    /// buffers.
    /// </summary>
    public PendingRun Submit(ReadOnlySpan<float> input, int[] shape)
    {
        ShapePlan plan = PlanFor(shape);
        long inputCount = Tensor.ElementCountOf(shape);
        if (input.Length != inputCount)
            throw new ArgumentException(
                $"input has {input.Length} values, shape {Tensor.FormatShape(shape)} needs {inputCount}");
        Slot slot = plan.Slots[plan.Next];
        plan.Next ^= 1;
        // A failure of that run stays with it (its caller sees it when it waits); this run goes on.
        try { slot.Pending?.Wait(); } catch (DferException) { }
        slot.Pending = null;

        Upload(input, slot);
        _cuda.Record(slot.Uploaded, _cuda.CopyStream);
        _cuda.Wait(_cuda.Stream, slot.Uploaded);

        if (Timer is { } timer)
        {
            RunTimed(plan, slot, timer);
            Execution = "eager, synchronised after each step (timed)";
        }
        else if (slot.Replay is { } exec)
        {
            _cuda.LaunchGraph(exec);
            Execution = "CUDA graph replay";
        }
        else
        {
            Enqueue(plan, slot);
            // The eager run loaded the modules and set the kernels' attributes; now record the same launches (recording
            // runs nothing, and may start while the eager work is still in flight) for every later run in this slot.
            if (_noGraphs is null && slot.CaptureFailure is null)
            {
                slot.Replay = _cuda.Capture(() => Enqueue(plan, slot), out string? failure);
                slot.CaptureFailure = failure;
            }
            Execution = _noGraphs is not null ? $"eager: {_noGraphs}"
                : slot.CaptureFailure is not null ? $"eager: capture failed: {slot.CaptureFailure}"
                : "eager (first run of this shape and slot; later runs replay the CUDA graph captured after it)";
        }

        long at = 0;
        var placed = new List<(string Name, long At, long Count)>();
        foreach (var (name, value) in _graph.Outputs)
        {
            long count = Tensor.ElementCountOf(plan.Shapes[value]);
            _cuda.CopyToHostAsync(slot.OutputHost, at, plan.Address(value, slot), 4 * count);
            placed.Add((name, at, count));
            at += 4 * count;
        }
        _cuda.Record(slot.Done, _cuda.Stream);
        var pending = new PendingRun(() =>
        {
            _cuda.Synchronize(slot.Done);
            var results = new Dictionary<string, float[]>();
            Span<float> all = slot.OutputHost.Floats(at / 4);
            foreach (var (name, offset, count) in placed)
                results[name] = all.Slice((int)(offset / 4), (int)count).ToArray();
            return results;
        });
        slot.Pending = pending;
        return pending;
    }

    /// <summary>
    /// Copies the input into the slot's pinned buffer and on to its device input on the copy stream, in slices: a slice
    /// is copied by all cores, then its DMA is queued and runs while the next slice is copied (a batch of 128 M3DFEL
    /// clips is 308 MB; one thread copying it would take longer than the forward pass).
    /// </summary>
    private unsafe void Upload(ReadOnlySpan<float> input, Slot slot)
    {
        const long Slice = 8L << 20;                       // bytes per DMA
        const long Part = 1L << 20;                        // bytes per parallel copy task
        long bytes = 4L * input.Length;
        IntPtr host = slot.InputHost.DangerousGetHandle(), device = slot.Input.NativePtr;
        fixed (float* source = input)
        {
            IntPtr src = (IntPtr)source;
            for (long at = 0; at < bytes; at += Slice)
            {
                long length = Math.Min(Slice, bytes - at), begin = at;
                int parts = (int)((length + Part - 1) / Part);
                if (parts == 1)
                    Buffer.MemoryCopy((void*)(src + (nint)begin), (void*)(host + (nint)begin), length, length);
                else
                    Parallel.For(0, parts, p =>
                    {
                        long from = begin + p * Part, n = Math.Min(Part, begin + length - from);
                        Buffer.MemoryCopy((void*)(src + (nint)from), (void*)(host + (nint)from), n, n);
                    });
                _cuda.CopyToDeviceAsync(device + (nint)begin, slot.InputHost, begin, length, _cuda.CopyStream);
            }
        }
    }

    /// <summary>Queues every step on the device (native steps on the backend's stream, ILGPU ones on the legacy
    /// stream).</summary>
    private void Enqueue(ShapePlan plan, Slot slot)
    {
        for (int i = 0; i < _steps.Length; i++) EnqueueStep(plan, slot, i);
    }

    private void EnqueueStep(ShapePlan plan, Slot slot, int i)
    {
        CudaStep s = _steps[i];
        if (s.Kernel is null) return;
        var shapes = new int[s.Inputs.Length][];
        for (int j = 0; j < s.Inputs.Length; j++) shapes[j] = plan.Shapes[s.Inputs[j]];
        if (s.Kernel is ICudaStep native)
        {
            Span<IntPtr> inputs = stackalloc IntPtr[s.Inputs.Length];
            for (int j = 0; j < inputs.Length; j++) inputs[j] = plan.Address(s.Inputs[j], slot);
            native.Launch(inputs, shapes, plan.Address(s.Output, slot), plan.Shapes[s.Output], plan.Workspace(i));
        }
        else
        {
            var views = new ArrayView<float>[s.Inputs.Length];
            for (int j = 0; j < views.Length; j++) views[j] = plan.View(s.Inputs[j], slot);
            s.Kernel.Run(_cuda.Ilgpu, views, shapes, plan.View(s.Output, slot), plan.Shapes[s.Output]);
        }
    }

    private void RunTimed(ShapePlan plan, Slot slot, NodeTimer timer)
    {
        _cuda.Synchronize();
        for (int i = 0; i < _steps.Length; i++)
        {
            long start = Stopwatch.GetTimestamp();
            EnqueueStep(plan, slot, i);
            _cuda.Synchronize();
            double ms = (Stopwatch.GetTimestamp() - start) * 1000.0 / Stopwatch.Frequency;
            CudaStep s = _steps[i];
            timer(s.Node, s.Inputs.Select(v => plan.Shapes[v]).ToArray(), ms);
        }
    }

    private ShapePlan PlanFor(int[] shape)
    {
        int index = _plans.FindIndex(p => p.InputShape.SequenceEqual(shape));
        ShapePlan plan;
        if (index >= 0)
        {
            plan = _plans[index];
            _plans.RemoveAt(index);
        }
        else
        {
            if (_plans.Count == KeptShapes)
            {
                _plans[^1].Dispose();   // collects its runs still in flight first
                _plans.RemoveAt(_plans.Count - 1);
            }
            plan = new ShapePlan(this, shape);
        }
        _plans.Insert(0, plan);
        return plan;
    }

    public void Dispose()
    {
        foreach (var p in _plans) p.Dispose();
        _plans.Clear();
        foreach (var k in _steps.Select(s => s.Kernel).OfType<IIlgpuKernel>().Distinct()) k.Dispose();
    }

    /// <summary>
    /// One of a shape's two slots: the device input and pinned buffers of a run in flight, the graph that reads that
    /// input, and the events that order the upload before the compute and tell the host when the outputs are in.
    /// </summary>
    private sealed class Slot : IDisposable
    {
        public Slot(CudaDevice cuda, long inputFloats, long outputBytes)
        {
            try
            {
                Input = cuda.Ilgpu.Allocate(inputFloats);
                InputHost = PinnedHostBuffer.Allocate(4 * inputFloats);
                OutputHost = PinnedHostBuffer.Allocate(outputBytes);
                Uploaded = cuda.CreateEvent();
                Done = cuda.CreateEvent();
            }
            catch
            {
                Dispose();
                throw;
            }
        }

        public MemoryBuffer1D<float, Stride1D.Dense> Input { get; } = null!;
        public PinnedHostBuffer InputHost { get; } = null!;
        public PinnedHostBuffer OutputHost { get; } = null!;
        public CudaEventHandle Uploaded { get; } = null!;
        public CudaEventHandle Done { get; } = null!;
        public CudaGraphExecHandle? Replay { get; set; }
        public string? CaptureFailure { get; set; }
        public PendingRun? Pending { get; set; }

        public void Dispose()
        {
            Replay?.Dispose();
            Input?.Dispose();
            InputHost?.Dispose();
            OutputHost?.Dispose();
            Uploaded?.Dispose();
            Done?.Dispose();
        }
    }

    /// <summary>The arena (every value but the input, and the steps' scratch) and the two slots of one input
    /// shape.</summary>
    private sealed class ShapePlan : IDisposable
    {
        private readonly MemoryBuffer1D<float, Stride1D.Dense> _arena;
        private readonly BufferPlan _layout;

        public ShapePlan(CudaExecutable owner, int[] inputShape)
        {
            InputShape = inputShape.ToArray();
            Shapes = owner._graph.InferShapes(inputShape);
            int[][] shapes = Shapes;
            var steps = owner._steps.Select(s => new PlanStep(s.Inputs, s.Output,
                s.Kernel is ICudaStep native
                ? native.WorkspaceBytes(s.Inputs.Select(v => shapes[v]).ToArray(), shapes[s.Output]) : 0,
                s.Alias)).ToArray();
            // The input lives in its slot, not in the arena (a reshape of it would alias the slot: none of our graphs
            // does).
            long[] bytes = Shapes.Select(
                (sh, v) => v == Graph.Input ? 0 : owner._elementBytes[v] * Tensor.ElementCountOf(sh)).ToArray();
            if (owner._steps.Any(s => s.Alias && s.Inputs[0] == Graph.Input))
                throw new NotSupportedException("the cuda backend cannot run a graph that reshapes its input in place");
            _layout = new BufferPlan(bytes, Graph.Input, steps, owner._graph.Outputs.Values);
            long outputBytes = owner._graph.Outputs.Values.Sum(v => 4 * Tensor.ElementCountOf(Shapes[v]));
            _arena = owner._cuda.Ilgpu.Allocate(_layout.TotalBytes / 4);
            try
            {
                Slots = [new Slot(owner._cuda, Tensor.ElementCountOf(inputShape), outputBytes),
                    new Slot(owner._cuda, Tensor.ElementCountOf(inputShape), outputBytes)];
            }
            catch
            {
                _arena.Dispose();
                throw;
            }
        }

        public int[] InputShape { get; }
        public int[][] Shapes { get; }
        public Slot[] Slots { get; } = [];
        public int Next { get; set; }

        public IntPtr Address(int value, Slot slot) =>
            value == Graph.Input ? slot.Input.NativePtr : _arena.NativePtr + (nint)_layout.Offset(value);

        public IntPtr Workspace(int step)
            => _layout.WorkspaceOffset(step) is long w and >= 0 ? _arena.NativePtr + (nint)w : IntPtr.Zero;

        public ArrayView<float> View(int value, Slot slot) => value == Graph.Input
            ? slot.Input.View.SubView(0, Tensor.ElementCountOf(Shapes[value]))
            : _arena.View.SubView(_layout.Offset(value) / 4, Tensor.ElementCountOf(Shapes[value]));

        /// <summary>Collects the runs still in flight (their outputs stay with their <see cref="PendingRun"/>), then
        /// frees everything.</summary>
        public void Dispose()
        {
            foreach (Slot slot in Slots)
            {
                try { slot.Pending?.Wait(); }
                catch (DferException) { }   // the failure stays with the run; its caller sees it when it waits
                slot.Dispose();
            }
            _arena.Dispose();
        }
    }
}
