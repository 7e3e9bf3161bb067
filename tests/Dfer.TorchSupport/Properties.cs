using System.Runtime.CompilerServices;

// The tests check the ELF patcher directly on a copy of the shim.
[assembly: InternalsVisibleTo("Dfer.Tests")]
