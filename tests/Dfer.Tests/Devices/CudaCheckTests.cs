using Dfer.Devices.Cuda;

namespace Dfer.Tests.Devices;

[TestFixture]
public class CudaCheckTests
{
    private static int Status(int code) => code;

    [Test]
    public void Failure_FromTheBuiltInTable_NamesStatusCodeAndCall()
    {
        CudaException e = CudaCheck.Failure(700, "CudaDriver.cuCtxSynchronize()", detail: null, useDriver: false);
        Assert.That(e.Message,
            Is.EqualTo("CUDA_ERROR_ILLEGAL_ADDRESS (700) in cuCtxSynchronize(): an illegal memory access was "
                + "encountered"));
        Assert.That(e.Status, Is.EqualTo(700));
        Assert.That(e.StatusName, Is.EqualTo("CUDA_ERROR_ILLEGAL_ADDRESS"));
        Assert.That(e.Call, Is.EqualTo("cuCtxSynchronize()"));
        Assert.That(e, Is.InstanceOf<DferException>());
    }

    [Test]
    public void Check_TakesTheCallTextFromTheCallSite()
    {
        var e = Assert.Throws<CudaException>(() => CudaCheck.Check(Status(719)));
        Assert.That(e!.Call, Is.EqualTo("Status(719)"));
        Assert.That(e.StatusName, Is.EqualTo("CUDA_ERROR_LAUNCH_FAILED"));
        Assert.That(e.Message, Does.StartWith("CUDA_ERROR_LAUNCH_FAILED (719) in Status(719): "));
    }

    [Test]
    public void Check_OfSuccess_DoesNothing() => Assert.DoesNotThrow(() => CudaCheck.Check(Status(0)));

    [Test]
    public void Check_WithDetail_AppendsIt_InTheLine_AndWholeInDetail()
    {
        var e = Assert.Throws<CudaException>(
            () => CudaCheck.Check(218, "cuModuleLoadDataEx(conv3d)", () => "JIT error log:\nptxas fatal : bad"));
        Assert.That(e!.Message, Does.StartWith("CUDA_ERROR_INVALID_PTX (218) in cuModuleLoadDataEx(conv3d): "));
        Assert.That(e.Message, Does.EndWith("; JIT error log:\\nptxas fatal : bad"),
            "one line: the log's newline escaped");
        Assert.That(e.Detail, Is.EqualTo("JIT error log:\nptxas fatal : bad"));
    }

    [Test]
    public void UnknownCode_GetsAGenericName()
    {
        CudaException e = CudaCheck.Failure(12345, "cuX()", null, useDriver: false);
        Assert.That(e.Message, Is.EqualTo("CUDA_ERROR_12345 (12345) in cuX(): unrecognised CUDA status"));
    }

    [Test]
    public void DriverNames_AgreeWithTheBuiltInTable()
    {
        if (!CudaDriver.IsLoadable) Assert.Ignore("no CUDA driver library (libcuda.so.1) on this machine");
        Assert.Multiple(() =>
        {
            // A code this driver does not know falls back to the table, so every name must agree.
            foreach (var (code, (name, _)) in CudaCheck.Table)
            {
                (string driverName, string text) = CudaCheck.Describe(code, useDriver: true);
                Assert.That(driverName, Is.EqualTo(name), $"code {code}");
                Assert.That(text, Is.Not.Empty, $"code {code}");
            }
        });
    }
}
