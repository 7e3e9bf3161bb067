// Kernels stackalloc small scratch in hot paths and always write it before reading; zeroing it
// first would be pure overhead.
[module: System.Runtime.CompilerServices.SkipLocalsInit]
