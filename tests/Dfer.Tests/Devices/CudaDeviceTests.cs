using Dfer.Devices.Cuda;
using Dfer.Devices.Ilgpu;
using ILGPU;
using ILGPU.Runtime;

namespace Dfer.Tests.Devices;

/// <summary>
/// The native CUDA device. Without a GPU only <see cref="CudaDevice.UnavailableReason"/> is checked; the rest runs
/// where ILGPU finds a CUDA device and NVRTC is installed, and is Ignored with the reason elsewhere.
/// </summary>
[TestFixture]
[NonParallelizable]
public class CudaDeviceTests
{
    [Test]
    public void UnavailableReason_WithoutAGpu_IsOneLineAboutTheGpu()
    {
        if (IlgpuDevice.CudaUnavailableReason() is null) Assert.Ignore("this machine has a CUDA GPU");
        string? reason = CudaDevice.UnavailableReason();
        Assert.That(reason, Is.Not.Null);
        Assert.That(reason, Does.Not.StartWith("backend cuda").And.Contain("GPU").And.Not.Contain("\n"));
    }

    [Test]
    public void Ptr_OfAnInvalidView_IsZero()
        => Assert.That(CudaDevice.Ptr(ArrayView<float>.Empty), Is.EqualTo(IntPtr.Zero));

    [Test]
    public void Ptr_RefusesAViewOnTheCpuAccelerator()
    {
        using var cpu = IlgpuDevice.Open(IlgpuTarget.Cpu);
        using var buffer = cpu.Allocate(16);
        Assert.Throws<ArgumentException>(() => CudaDevice.Ptr(buffer.View));
    }

    [Test]
    public void Open_RefusesANonCudaIlgpuDevice()
    {
        using var cpu = IlgpuDevice.Open(IlgpuTarget.Cpu);
        var e = Assert.Throws<DferException>(() => CudaDevice.Open(cpu));
        Assert.That(e!.Message, Does.StartWith("backend cuda: needs an ILGPU CUDA device"));
    }

    // ---- GPU only

    private const string TestKernels = """
        // launch fill3: block 128, tile_m 1, tile_n 1, smem 0
        // launch axpy: block 256, tile_m 1, tile_n 1, smem 0
        // launch big_smem: block 128, tile_m 1, tile_n 1, smem 65536
        // launch poke: block 32, tile_m 1, tile_n 1, smem 0
        #include "common.cuh"
        struct AxpyParams { const float* x; float* y; float a; int pad; long long n; };
        extern "C" __global__ void fill3(float* y, float v, long long n)
        {   // one thread per element
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (i < n) y[i] = v;
        }
        extern "C" __global__ void axpy(AxpyParams p)
        {   // one thread per element
            long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x;
            if (i < p.n) p.y[i] += p.a * p.x[i];
        }
        extern "C" __global__ void big_smem(float* y, float v, long long n)
        {   // one block; every thread writes and reads back the last dynamic shared word
            extern __shared__ float s[];
            if (threadIdx.x == 0) s[65536 / 4 - 1] = v;
            __syncthreads();
            if (threadIdx.x < n) y[threadIdx.x] = s[65536 / 4 - 1];
        }
        extern "C" __global__ void poke(float* y, float v, long long offset) { y[offset] = v; }
        """;

    private struct AxpyParams
    {
        public IntPtr X, Y;
        public float A;
        public int Pad;   // mirrors the kernel struct's alignment gap before n
        public long N;
    }

    private static (IlgpuDevice Ilgpu, CudaDevice Cuda, string Cache) OpenOnGpu()
    {
        if (IlgpuDevice.CudaUnavailableReason() is string gpu) Assert.Ignore(gpu);
        if (Nvrtc.UnavailableReason() is string nvrtc) Assert.Ignore(nvrtc);
        string cache = CudaTestSupport.TempDir("gpu-cache");
        var sources = CudaTestSupport.Sources(("test.cu", TestKernels), ("common.cuh", "#pragma once\n"));
        var locator = new KernelLocator(new KernelSearchPaths(null, null, cache, cache), sources,
            NvrtcCompiler.Instance);
        var ilgpu = IlgpuDevice.Open(IlgpuTarget.Cuda);
        return (ilgpu, CudaDevice.Open(ilgpu, locator), cache);
    }

    [Test]
    public void Gpu_DescribesTheDevice_AndLaunchesBothArgumentForms_OnIlgpuMemory()
    {
        var (ilgpu, cuda, cache) = OpenOnGpu();
        try
        {
            using (cuda)
            {
                TestContext.Out.WriteLine(cuda.Description);
                Assert.That(cuda.Sm, Is.GreaterThanOrEqualTo(80));
                Assert.That(cuda.MultiprocessorCount, Is.GreaterThan(0));
                Assert.That(cuda.L2CacheBytes, Is.GreaterThan(0));
                Assert.That(cuda.Description, Does.Contain($"sm_{cuda.Sm}").And.Contain("test:"));

                const int n = 1000, offset = 7;   // a sub-view, to check Ptr adds the view's offset
                using var y = ilgpu.Allocate(n + offset);
                using var x = ilgpu.Upload(Enumerable.Range(0, n).Select(i => (float)i).ToArray());
                ArrayView<float> yView = y.View.SubView(offset, n);
                Assert.That(CudaDevice.Ptr(yView), Is.EqualTo(y.NativePtr + offset * sizeof(float)));

                CudaKernel fill = cuda.Kernel("test", "fill3");
                Assert.That(cuda.Kernel("test", "fill3"), Is.SameAs(fill));
                Assert.That(fill.Launch!.Block, Is.EqualTo(128));
                Assert.That(fill.Registers, Is.GreaterThan(0));
                cuda.Launch(fill, ((n + 127) / 128, 1, 1), 128, 0, CudaDevice.Ptr(yView), 1.5f, (long)n);

                CudaKernel axpy = cuda.Kernel("test", "axpy");
                var p = new AxpyParams
                {
                    X = CudaDevice.Ptr(x.View),
                    Y = CudaDevice.Ptr(yView),
                    A = 2f,
                    Pad = 0,
                    N = n
                };
                using var timer = cuda.CreateTimer();
                cuda.FlushL2();
                timer.Start();
                cuda.Launch(axpy, ((n + 255) / 256, 1, 1), 256, 0, p);
                double ms = timer.Stop();
                Assert.That(ms, Is.GreaterThanOrEqualTo(0));
                cuda.Synchronize();

                float[] host = y.GetAsArray1D();
                for (int i = 0; i < n; i++) Assert.That(host[offset + i], Is.EqualTo(1.5f + 2f * i), $"y[{i}]");

                Assert.Throws<ArgumentException>(() => cuda.Launch(axpy, (1, 1, 1), 128, 0, p),
                    "block must match the launch line");
                if (axpy.ParameterSizes is not null)
                    Assert.Throws<ArgumentException>(() => cuda.Launch(axpy, (1, 1, 1), 256, 0, 1L),
                        "argument size must match");
            }
        }
        finally
        {
            ilgpu.Dispose();
            Directory.Delete(cache, recursive: true);
        }
    }

    [Test]
    public void Gpu_DynamicSharedMemoryAbove48KiB_IsOptedInAutomatically()
    {
        var (ilgpu, cuda, cache) = OpenOnGpu();
        try
        {
            using (cuda)
            {
                using var y = ilgpu.Allocate(128);
                CudaKernel k = cuda.Kernel("test", "big_smem");
                cuda.Launch(k, (1, 1, 1), 128, 65536, CudaDevice.Ptr(y.View), 3f, 128L);
                cuda.Synchronize();
                Assert.That(y.GetAsArray1D(), Is.All.EqualTo(3f));
            }
        }
        finally
        {
            ilgpu.Dispose();
            Directory.Delete(cache, recursive: true);
        }
    }

    [Test]
    public void Gpu_AFaultingKernel_IsNamedInTheException()
    {
        var (ilgpu, cuda, cache) = OpenOnGpu();
        try
        {
            // Its own context: an illegal address poisons the context it happens in.
            using (cuda)
            {
                CudaKernel poke = cuda.Kernel("test", "poke");
                cuda.Launch(poke, (1, 1, 1), 32, 0, IntPtr.Zero, 1f, 1L << 40);
                var e = Assert.Throws<CudaException>(() => cuda.Synchronize());
                Assert.That(e!.StatusName, Is.EqualTo("CUDA_ERROR_ILLEGAL_ADDRESS"));
                Assert.That(e.Message, Does.StartWith("CUDA_ERROR_ILLEGAL_ADDRESS (700) in cuCtxSynchronize(): "));
            }
        }
        finally
        {
            try { ilgpu.Dispose(); } catch (Exception) { /* the poisoned context may refuse to tear down cleanly */ }
            Directory.Delete(cache, recursive: true);
        }
    }
}
