using System.Runtime.InteropServices;
using System.Runtime.Intrinsics.X86;

namespace Attention.Peers;

/// <summary>
/// P/Invoke bindings to the ggml libraries (llama.cpp's tensor library) shipped in the NuGet package
/// LLamaSharp.Backend.Cpu 0.30.0. Signatures from ggml/include/ggml.h and ggml-cpu.h of that release,
/// checked against the exported symbols (<c>nm -D</c>): ggml_init..ggml_flash_attn_ext live in
/// libggml-base.so, ggml_graph_compute_with_ctx and ggml_cpu_init in libggml-cpu.so.
///
/// Finding the libraries: the package's build props copy every variant (noavx, avx, avx2, avx512 per
/// OS) to bin/runtimes/&lt;rid&gt;/native/&lt;variant&gt;/ when no RuntimeIdentifier is set, and the .NET
/// loader would not look there on its own. A DllImport resolver picks the best variant this CPU runs
/// (AVX-512 when it has it), first under the app folder, then in the NuGet package folder, so a fresh
/// clone works after restore. The libraries carry RUNPATH $ORIGIN, so libggml-cpu finds its
/// libggml-base beside it.
/// </summary>
internal static unsafe partial class GgmlNative
{
    private const string BaseLib = "ggml-base";
    private const string CpuLib = "ggml-cpu";

    public const int TypeF32 = 0, TypeF16 = 1;
    public const int PrecF32 = 10; // enum ggml_prec { GGML_PREC_DEFAULT = 0, GGML_PREC_F32 = 10 }

    [StructLayout(LayoutKind.Sequential)]
    public struct InitParams
    {
        public nuint MemSize;      // size_t mem_size
        public void* MemBuffer;    // void* mem_buffer (null: ggml allocates)
        public byte NoAlloc;       // bool no_alloc (one byte, C99 _Bool)
    }

    [LibraryImport(BaseLib, EntryPoint = "ggml_init")] public static partial nint Init(InitParams parameters);
    [LibraryImport(BaseLib, EntryPoint = "ggml_free")] public static partial void Free(nint ctx);
    [LibraryImport(BaseLib, EntryPoint = "ggml_tensor_overhead")] public static partial nuint TensorOverhead();
    [LibraryImport(BaseLib, EntryPoint = "ggml_graph_overhead")] public static partial nuint GraphOverhead();
    [LibraryImport(BaseLib, EntryPoint = "ggml_new_tensor_4d")]
    public static partial nint NewTensor4d(nint ctx, int type, long ne0, long ne1, long ne2, long ne3);
    [LibraryImport(BaseLib, EntryPoint = "ggml_get_data")] public static partial void* GetData(nint tensor);
    [LibraryImport(BaseLib, EntryPoint = "ggml_nbytes")] public static partial nuint NBytes(nint tensor);
    [LibraryImport(BaseLib, EntryPoint = "ggml_flash_attn_ext")]
    public static partial nint FlashAttnExt(nint ctx, nint q, nint k, nint v, nint mask, float scale, float maxBias, float logitSoftcap);
    [LibraryImport(BaseLib, EntryPoint = "ggml_flash_attn_ext_set_prec")] public static partial void FlashAttnExtSetPrec(nint a, int prec);
    [LibraryImport(BaseLib, EntryPoint = "ggml_new_graph")] public static partial nint NewGraph(nint ctx);
    [LibraryImport(BaseLib, EntryPoint = "ggml_build_forward_expand")] public static partial void BuildForwardExpand(nint graph, nint tensor);
    [LibraryImport(BaseLib, EntryPoint = "ggml_version")] public static partial nint Version();
    [LibraryImport(CpuLib, EntryPoint = "ggml_cpu_init")] public static partial void CpuInit();
    [LibraryImport(CpuLib, EntryPoint = "ggml_graph_compute_with_ctx")]
    public static partial int GraphComputeWithCtx(nint ctx, nint graph, int nThreads);

    [LibraryImport("libc.so.6", EntryPoint = "setenv", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int SetEnv(string name, string value, int overwrite);

    /// <summary>The folder the libraries were loaded from (null before the first call).</summary>
    public static string? LoadedFrom { get; private set; }

    private static readonly object Gate = new();
    private static bool _ready;

    /// <summary>Installs the resolver and initialises the CPU backend once; throws DllNotFoundException naming the folders tried.</summary>
    public static void EnsureLoaded()
    {
        lock (Gate)
        {
            if (_ready) return;
            var folder = FindFolder() ?? throw new DllNotFoundException(
                "ggml libraries not found; looked in: " + string.Join(", ", CandidateFolders()));
            // ggml's CPU backend threads through OpenMP (libgomp, loaded with libggml-cpu, reads its settings
            // once at load). Its default keeps idle workers spinning after each call, which steals the core
            // from whatever runs next — in an interleaved benchmark, the next implementation. Passive
            // waiting is asked for unless the user chose a policy.
            if (Environment.GetEnvironmentVariable("OMP_WAIT_POLICY") is null) SetEnv("OMP_WAIT_POLICY", "PASSIVE", 0);
            // libggml-base first, then libggml-cpu (which links to it by soname)
            var handles = new Dictionary<string, nint>
            {
                [BaseLib] = NativeLibrary.Load(Path.Combine(folder, "libggml-base.so")),
            };
            handles[CpuLib] = NativeLibrary.Load(Path.Combine(folder, "libggml-cpu.so"));
            NativeLibrary.SetDllImportResolver(typeof(GgmlNative).Assembly, (name, _, _) =>
                handles.TryGetValue(name, out var h) ? h : IntPtr.Zero);
            LoadedFrom = folder;
            CpuInit();
            _ready = true;
        }
    }

    /// <summary>ggml's version string (e.g. "0.9.4"), or "unknown".</summary>
    public static string VersionString()
    {
        EnsureLoaded();
        return Marshal.PtrToStringUTF8(Version()) ?? "unknown";
    }

    private static string? FindFolder() =>
        CandidateFolders().FirstOrDefault(f => File.Exists(Path.Combine(f, "libggml-base.so")) && File.Exists(Path.Combine(f, "libggml-cpu.so")));

    private static IEnumerable<string> CandidateFolders()
    {
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64) yield break;
        string[] variants = Avx512F.IsSupported ? ["avx512", "avx2", "avx", "noavx"]
                          : Avx2.IsSupported ? ["avx2", "avx", "noavx"]
                          : Avx.IsSupported ? ["avx", "noavx"] : ["noavx"];
        var roots = new List<string> { Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native") };
        var assemblyDir = Path.GetDirectoryName(typeof(GgmlNative).Assembly.Location);
        if (!string.IsNullOrEmpty(assemblyDir)) roots.Add(Path.Combine(assemblyDir, "runtimes", "linux-x64", "native"));
        var nugetRoot = Environment.GetEnvironmentVariable("NUGET_PACKAGES")
                        ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        roots.Add(Path.Combine(nugetRoot, "llamasharp.backend.cpu", PackageVersion, "LLamaSharpRuntimes", "linux-x64", "native"));
        foreach (var root in roots)
            foreach (var v in variants)
                yield return Path.Combine(root, v);
    }

    /// <summary>The LLamaSharp.Backend.Cpu package version the bindings were written for.</summary>
    public const string PackageVersion = "0.30.0";
}
