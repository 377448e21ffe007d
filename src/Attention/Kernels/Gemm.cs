using System.Buffers;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Attention.Kernels;

/// <summary>
/// Single-precision GEMM, C = α·op(A)·op(B) + β·C, row-major, in the BLIS layout (Van Zee and
/// van de Geijn, 2015, "BLIS: A Framework for Rapidly Instantiating BLAS Functionality"):
///
///   for jc over N in steps of NC:              B panel KC×NC packed once, reused by every A block (L3)
///     for pc over K in steps of KC:
///       pack op(B)[pc.., jc..] into NR-wide slivers, zero-padded to a multiple of NR
///       for ic over M in steps of MC:          A block MC×KC packed into MR-tall slivers (stays in L2)
///         for jr, ir: micro-kernel            MR×NR tile of C held in registers for all KC steps
///
/// The micro-kernel keeps a 6×64 tile in 24 Vector512 accumulators (of 32 zmm registers), so each k
/// step is 4 vector loads of B, 6 broadcasts of A and 24 FMAs: bound by FMA throughput, not loads.
/// Zen 4 executes a 512-bit FMA as two 256-bit halves, so this buys fewer instructions, not more
/// FLOPs per cycle. Without AVX-512 a 6×16 Vector256 kernel runs, and a scalar one without AVX.
/// Edge tiles compute on zero-padded packs and write back only the valid part; with β = 0 C is
/// never read, so NaN garbage in it is ignored. Edges cost what they compute: 16- and 32-wide column kernels,
/// 2- and 4-row kernels for the last rows, and, when A is stored transposed, a kernel for column edges of ≤ 24
/// that runs its vectors down the rows of C (64 rows of A per load) instead of across 16 lanes of one column.
/// A stored as is (op(A) = A) is read in place, never packed (but a last sliver of fewer than 6 rows); A stored
/// transposed is packed unless the panel is narrow (≤ 4 slivers). Threads split C into row (or column) bands aligned
/// to MR (NR); every element sees the same sequence of operations whatever the thread count, so
/// results are bitwise identical for any maxThreads.
///
/// Measured (bench/results/gemm.md; AMD EPYC, x86 family 26 = Zen 5 with native 512-bit FMAs, 2 cores shared
/// with other jobs at load average ~30; best of 15; FMA peak 220–226 GFLOP/s per core measured in the same run):
///   1024³ A·B, 1 thread: 185–186 GFLOP/s over the thread's CPU time = 82–84% of peak in two runs (wall clock:
///   68–88, the scheduler's share); 1000³: 181–186 (80–84%); 1024³ A·Bᵀ: 180–182 (80–83%);
///   256³ (fits in L2): 204 GFLOP/s wall = 90–93%;
///   the naive triple loop it replaced: 0.9 GFLOP/s at 256³, so ~230× faster.
/// The micro-kernel alone, on packed data in L1/L2, runs at 97% of peak; the rest goes to packing, the
/// passes over C and cache refills after preemption. Versions: (1) naive loop 0.9; (2) packed 6×64 kernel,
/// KC 256, scalar packing ~150; (3) KC 512, C-tile prefetch, six-stream A packing ~175; (4) AVX-512 A packing,
/// eight-row Bᵀ packing ~185; (5) edge kernels and in-place A on narrow panels: Aᵀ·B 127×129×131 from 52–54% to
/// 80–83% of the FMA peak, A·B 127×129×131 from 61% to 75–77%, A·B 126×128×131 from 73–75% to 86–92%, 1024³
/// unchanged (one thread, CPU time, best of several calls in one process beside the old build, `chrt -f 50` on the
/// shared 2-core Zen 5 at load average 17–39, peak 270–289 GFLOP/s measured in the same runs). Same bits as before;
/// (6) A read in place whenever it is not transposed: 1024³ A·B from 260–265 to 269–274 GFLOP/s, A·Bᵀ from 255–260 to
/// 263–269, MiniLM's four projection shapes 2–9% less CPU time (one thread, CPU time, old and new builds alternating,
/// load average 15–22). Same bits again.
/// </summary>
public static unsafe class Gemm
{
    // Micro-tile and cache blocks, tuned at 1024³ on the 1 MiB-L2 EPYC here: the KC×NR B sliver (128 KiB) and the
    // MC×KC A block (288 KiB) share L2; the KC×NC B panel (4 MiB) lives in L3. The micro-kernel alone keeps ~97%
    // of the FMA peak with a 128 KiB sliver in L2, so a larger KC (fewer passes over C) beat an L1-sized one.
    internal const int MR = 6, NR = 64;
    internal const int KC = 512, MC = 144, NC = 2048;

    /// <summary>Which micro-kernel runs; tests force each one so every path is checked on this machine.</summary>
    internal enum Kernel { Auto, Vector512, Vector256, Scalar }

    /// <summary>
    /// C = α·op(A)·op(B) + β·C. op(A) is m×k, op(B) is k×n, C is m×n, all row-major; op(X) = Xᵀ when
    /// the transpose flag is set, so A is stored m×k (k×m when transposed) with row stride lda, and so on.
    /// β = 0 overwrites C without reading it. maxThreads = 0 uses every core.
    /// </summary>
    /// <exception cref="ArgumentException">Negative sizes, a leading dimension smaller than the stored
    /// width, a span shorter than the stored matrix, or C overlapping A or B.</exception>
    public static void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
                                float alpha, ReadOnlySpan<float> a, int lda,
                                ReadOnlySpan<float> b, int ldb,
                                float beta, Span<float> c, int ldc, int maxThreads = 0)
        => Multiply(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, maxThreads, Kernel.Auto);

    /// <summary>
    /// C[i] = α·op(A[i])·op(B[i]) + β·C[i] for i in [0, batch), the matrices of batch i starting at
    /// i·strideA, i·strideB, i·strideC (a stride of 0 reuses one matrix, e.g. shared weights).
    /// Threads go over the batch when it has at least as many items as threads.
    /// </summary>
    public static void MultiplyBatched(bool transposeA, bool transposeB, int m, int n, int k,
                                       float alpha, ReadOnlySpan<float> a, int lda, long strideA,
                                       ReadOnlySpan<float> b, int ldb, long strideB,
                                       float beta, Span<float> c, int ldc, long strideC,
                                       int batch, int maxThreads = 0)
    {
        if (batch < 0) throw new ArgumentOutOfRangeException(nameof(batch), batch, "expected batch ≥ 0");
        if (strideA < 0 || strideB < 0 || strideC < 0) throw new ArgumentException($"expected non-negative batch strides, got A {strideA}, B {strideB}, C {strideC}");
        if (batch == 0) return;
        long lastA = (batch - 1) * strideA, lastB = (batch - 1) * strideB, lastC = (batch - 1) * strideC;
        long needA = lastA + Required(transposeA ? k : m, transposeA ? m : k, lda);
        long needB = lastB + Required(transposeB ? n : k, transposeB ? k : n, ldb);
        long needC = lastC + Required(m, n, ldc);
        if (a.Length < needA) throw new ArgumentException($"expected a of at least {needA} elements for {batch} batches of stride {strideA}, got {a.Length}", nameof(a));
        if (b.Length < needB) throw new ArgumentException($"expected b of at least {needB} elements for {batch} batches of stride {strideB}, got {b.Length}", nameof(b));
        if (c.Length < needC) throw new ArgumentException($"expected c of at least {needC} elements for {batch} batches of stride {strideC}, got {c.Length}", nameof(c));
        if (strideC < Required(m, n, ldc) && batch > 1 && m > 0 && n > 0) throw new ArgumentException($"expected strideC ≥ {Required(m, n, ldc)} so the C matrices do not overlap, got {strideC}", nameof(strideC));
        int threads = ThreadCount(maxThreads);
        if (threads <= 1 || batch < threads)
        {
            for (int i = 0; i < batch; i++)
                Multiply(transposeA, transposeB, m, n, k, alpha, a[(int)(i * strideA)..], lda, b[(int)(i * strideB)..], ldb, beta, c[(int)(i * strideC)..], ldc, maxThreads);
            return;
        }
        Validate(transposeA, transposeB, m, n, k, a[(int)lastA..], lda, b[(int)lastB..], ldb, c[(int)lastC..], ldc);
        fixed (float* pa = a, pb = b, pc = c)
        {
            nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
            Parallel.For(0, batch, new ParallelOptions { MaxDegreeOfParallelism = threads }, i =>
                Serial(transposeA, transposeB, m, n, k, alpha, (float*)ia + i * strideA, lda, (float*)ib + i * strideB, ldb,
                       beta, (float*)ic + i * strideC, ldc, Kernel.Auto));
        }
    }

    internal static void Multiply(bool transposeA, bool transposeB, int m, int n, int k,
                                  float alpha, ReadOnlySpan<float> a, int lda,
                                  ReadOnlySpan<float> b, int ldb,
                                  float beta, Span<float> c, int ldc, int maxThreads, Kernel kernel)
    {
        Validate(transposeA, transposeB, m, n, k, a, lda, b, ldb, c, ldc);
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "expected maxThreads ≥ 0 (0 = all cores)");
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pb = b, pc = c)
        {
            if (k == 0 || alpha == 0) { ScaleC(m, n, beta, pc, ldc); return; }
            int threads = ThreadCount(maxThreads);
            // Below ~2 MFLOP a thread costs more to start than it saves.
            if ((long)m * n * k < 1 << 20) threads = 1;
            bool splitRows = m >= n;
            int units = splitRows ? (m + MR - 1) / MR : (n + NR - 1) / NR;
            threads = Math.Min(threads, units);
            if (threads <= 1)
            {
                Serial(transposeA, transposeB, m, n, k, alpha, pa, lda, pb, ldb, beta, pc, ldc, kernel);
                return;
            }
            nint ia = (nint)pa, ib = (nint)pb, ic = (nint)pc;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int u0 = (int)((long)units * t / threads), u1 = (int)((long)units * (t + 1) / threads);
                float* A = (float*)ia, B = (float*)ib, C = (float*)ic;
                if (splitRows)
                {
                    int r0 = u0 * MR, r1 = Math.Min(m, u1 * MR);
                    if (r1 <= r0) return;
                    float* aPart = transposeA ? A + r0 : A + (long)r0 * lda;
                    Serial(transposeA, transposeB, r1 - r0, n, k, alpha, aPart, lda, B, ldb, beta, C + (long)r0 * ldc, ldc, kernel);
                }
                else
                {
                    int c0 = u0 * NR, c1 = Math.Min(n, u1 * NR);
                    if (c1 <= c0) return;
                    float* bPart = transposeB ? B + (long)c0 * ldb : B + c0;
                    Serial(transposeA, transposeB, m, c1 - c0, k, alpha, A, lda, bPart, ldb, beta, C + c0, ldc, kernel);
                }
            });
        }
    }

    private static int ThreadCount(int maxThreads) => maxThreads == 0 ? Environment.ProcessorCount : Math.Min(maxThreads, Environment.ProcessorCount);

    private static long Required(int rows, int cols, int ld) => rows == 0 || cols == 0 ? 0 : (long)(rows - 1) * ld + cols;

    private static void Validate(bool transposeA, bool transposeB, int m, int n, int k,
                                 ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, Span<float> c, int ldc)
    {
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "expected m ≥ 0");
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "expected n ≥ 0");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "expected k ≥ 0");
        int aRows = transposeA ? k : m, aCols = transposeA ? m : k;
        int bRows = transposeB ? n : k, bCols = transposeB ? k : n;
        CheckMatrix("a", transposeA ? "k×m (A transposed)" : "m×k", a.Length, aRows, aCols, lda, "lda");
        CheckMatrix("b", transposeB ? "n×k (B transposed)" : "k×n", b.Length, bRows, bCols, ldb, "ldb");
        CheckMatrix("c", "m×n", c.Length, m, n, ldc, "ldc");
        if (m > 0 && n > 0 && k > 0 && (c.Overlaps(a) || c.Overlaps(b)))
            throw new ArgumentException("expected c not to overlap a or b: the kernel reads A and B after writing parts of C", nameof(c));
    }

    private static void CheckMatrix(string name, string layout, int length, int rows, int cols, int ld, string ldName)
    {
        if (ld < Math.Max(1, cols))
            throw new ArgumentOutOfRangeException(ldName, ld, $"expected {ldName} ≥ {Math.Max(1, cols)} (the width of {name}, stored {layout} = {rows}×{cols}), got {ld}");
        long need = Required(rows, cols, ld);
        if (length < need)
            throw new ArgumentException($"expected {name} ({layout} = {rows}×{cols}, {ldName} {ld}) of at least {need} elements, got {length}", name);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void ScaleC(int m, int n, float beta, float* c, int ldc)
    {
        for (int i = 0; i < m; i++)
        {
            var row = new Span<float>(c + (long)i * ldc, n);
            if (beta == 0) row.Clear();
            else if (beta != 1) System.Numerics.Tensors.TensorPrimitives.Multiply(row, beta, row);
        }
    }

    private static Kernel Resolve(Kernel kernel) => kernel switch
    {
        Kernel.Auto when Vector512.IsHardwareAccelerated => Kernel.Vector512,
        Kernel.Auto when Vector256.IsHardwareAccelerated => Kernel.Vector256,
        Kernel.Auto => Kernel.Scalar,
        _ => kernel,
    };

    /// <summary>One thread's whole GEMM on raw pointers (already validated).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Serial(bool transposeA, bool transposeB, int m, int n, int k, float alpha,
                               float* a, int lda, float* b, int ldb, float beta, float* c, int ldc, Kernel kernel)
    {
        kernel = Resolve(kernel);
        int nr = SliverWidth(kernel);
        int mr = kernel == Kernel.Scalar ? 4 : MR;
        int kcMax = Math.Min(KC, k), ncMax = Math.Min(NC, (n + nr - 1) / nr * nr), mcMax = Math.Min(MC / mr * mr, (m + mr - 1) / mr * mr);
        // 16 spare floats let both packs start on a 64-byte boundary once pinned.
        int aSize = mcMax * kcMax + 16, bSize = kcMax * ncMax + 16;
        float[] rented = ArrayPool<float>.Shared.Rent(aSize + bSize);
        try
        {
            fixed (float* buffer = rented)
            {
                float* aPack = Align64(buffer), bPack = Align64(buffer + aSize);
                for (int jc = 0; jc < n; jc += NC)
                {
                    int ncCur = Math.Min(NC, n - jc);
                    for (int pc = 0; pc < k; pc += KC)
                    {
                        int kc = Math.Min(KC, k - pc);
                        PackB(transposeB, b, ldb, pc, jc, kc, ncCur, nr, bPack);
                        Panel(transposeA, a, lda, m, pc, kc, bPack, 0, ncCur, c + jc, ldc, alpha, pc == 0 ? beta : 1f, kernel, mr, nr, aPack, null, 0, 0);
                    }
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(rented); }
    }

    /// <summary>
    /// One packed KC×NC panel of op(B) against every row block of A: columns [j0, j1) of the panel (j0 a multiple of
    /// nr) into C's columns [j0, j1) relative to <paramref name="c"/>; A's rows are packed MC at a time into aPack.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Panel(bool transposeA, float* a, int lda, int m, int pc, int kc, float* bPack, int j0, int j1,
                              float* c, int ldc, float alpha, float beta, Kernel kernel, int mr, int nr, float* aPack,
                              GemmEpilogue? epilogue, int rowBase, int colBase)
    {
        // the epilogue's callbacks see C's absolute coordinates: rowBase, colBase locate this panel's c
        int mc = MC / mr * mr;
        float* tile = stackalloc float[MR * NR + 16];
        tile = Align64(tile);
        // The AVX-512 kernels read op(A) = A in place, row i of the sliver at a + i·lda, step 1 along k: six row
        // streams the prefetchers follow, the sliver (6 × kc floats) staying in L1 for every column sliver of the
        // panel, so packing it bought nothing and cost a pass over A (MiniLM's projections, 1024 rows × 384 or 1536:
        // 2–9% less CPU time without it). Stored transposed (op(A) = Aᵀ), a sliver in place is one cache line per k
        // step, kc lines apart: only narrow panels (at most InPlaceSlivers column slivers, each packed sliver used
        // too few times to repay its packing) read that in place. A partial last sliver (fewer than MR rows) is
        // still packed, so that its padding rows read zeros instead of memory past A. Same operations in the same
        // order either way, so the same bits.
        bool inPlace = kernel == Kernel.Vector512 && (!transposeA || (j1 - j0 + nr - 1) / nr <= InPlaceSlivers);
        for (int ic = 0; ic < m; ic += mc)
        {
            int mcCur = Math.Min(mc, m - ic);
            int fullRows = mcCur / mr * mr;
            if (!inPlace) PackA(transposeA, a, lda, ic, pc, mcCur, kc, mr, aPack);
            else if (fullRows < mcCur) PackA(transposeA, a, lda, ic + fullRows, pc, mcCur - fullRows, kc, mr, aPack);
            for (int jr = j0; jr < j1; jr += nr)
            {
                int nrCur = Math.Min(nr, j1 - jr);
                float* bSliver = bPack + (long)jr * kc;
                if (kernel == Kernel.Vector512 && transposeA && nrCur <= EdgeColumnsMax)
                {
                    EdgeColumnsT(a + (long)pc * lda + ic, lda, bSliver, kc, mcCur, nrCur, c + (long)ic * ldc + jr, ldc, alpha, beta, tile);
                    epilogue?.Tile?.Invoke(rowBase + ic, rowBase + ic + mcCur, colBase + jr, colBase + jr + nrCur);
                    continue;
                }
                for (int ir = 0; ir < mcCur; ir += mr)
                {
                    int mrCur = Math.Min(mr, mcCur - ir);
                    float* aSliver;
                    nint rs, cs;   // op(A)[ir + i, pc + p] sits at aSliver[i·rs + p·cs]
                    if (!inPlace) { aSliver = aPack + (long)ir * kc; rs = 1; cs = mr; }
                    else if (mrCur == mr && !transposeA) { aSliver = a + (long)(ic + ir) * lda + pc; rs = lda; cs = 1; }
                    else if (mrCur == mr) { aSliver = a + (long)pc * lda + ic + ir; rs = 1; cs = lda; }
                    else { aSliver = aPack; rs = 1; cs = mr; }
                    float* cTile = c + (long)(ic + ir) * ldc + jr;
                    switch (kernel)
                    {
                        // an edge sliver with at most 16 (32) valid columns: one (two) zmm per row instead of four,
                        // so n = 129 computes 144 columns, not 192
                        case Kernel.Vector512 when nrCur <= 16: Micro512x16(aSliver, rs, cs, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur, tile); break;
                        case Kernel.Vector512 when nrCur <= 32: Micro512x32(aSliver, rs, cs, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur, tile); break;
                        // an edge sliver with at most 2 (4) valid rows: 8 (16) accumulators instead of 24
                        case Kernel.Vector512 when mrCur <= 2: Micro512Short<TwoRows>(aSliver, rs, cs, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur, tile); break;
                        case Kernel.Vector512 when mrCur <= 4: Micro512Short<FourRows>(aSliver, rs, cs, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur, tile); break;
                        case Kernel.Vector512: Micro512(aSliver, rs, cs, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur, tile); break;
                        case Kernel.Vector256: Micro256(aSliver, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur, tile); break;
                        default: MicroScalar(aSliver, bSliver, kc, cTile, ldc, alpha, beta, mrCur, nrCur); break;
                    }
                }
                // this MC×NR block of C is final (the caller passes an epilogue with the last depth block only)
                epilogue?.Tile?.Invoke(rowBase + ic, rowBase + ic + mcCur, colBase + jr, colBase + jr + nrCur);
            }
            epilogue?.Rows?.Invoke(rowBase + ic, rowBase + ic + mcCur);
        }
    }

    /// <summary>Panels up to this many NR-wide column slivers read op(A) = A in place instead of packing it.</summary>
    internal const int InPlaceSlivers = 4;

    private static int SliverWidth(Kernel kernel) => kernel switch { Kernel.Vector512 => NR, Kernel.Vector256 => 16, _ => 4 };

    /// <summary>
    /// Packs op(B) (k×n; B stored k×n, or n×k when <paramref name="transposeB"/>) once, in the layout the micro-kernel
    /// reads, for <see cref="Multiply(bool, int, float, ReadOnlySpan{float}, int, GemmPackedB, float, Span{float}, int, int)"/>.
    /// A weight matrix used on every call (a projection's W in x·Wᵀ) is packed at load time, as ONNX Runtime's CPU MatMul
    /// pre-packs constant weights: with few rows of A (one short sentence), packing B on every call would cost more than
    /// the arithmetic.
    /// </summary>
    /// <exception cref="ArgumentException">Negative sizes, ldb smaller than the stored width, or b too short.</exception>
    public static GemmPackedB Prepack(bool transposeB, ReadOnlySpan<float> b, int ldb, int k, int n) =>
        Prepack(transposeB, b, ldb, k, n, Kernel.Auto);

    internal static GemmPackedB Prepack(bool transposeB, ReadOnlySpan<float> b, int ldb, int k, int n, Kernel kernel)
    {
        if (n < 0) throw new ArgumentOutOfRangeException(nameof(n), n, "expected n ≥ 0");
        if (k < 0) throw new ArgumentOutOfRangeException(nameof(k), k, "expected k ≥ 0");
        CheckMatrix("b", transposeB ? "n×k (B transposed)" : "k×n", b.Length, transposeB ? n : k, transposeB ? k : n, ldb, "ldb");
        kernel = Resolve(kernel);
        var packed = new GemmPackedB(k, n, kernel, SliverWidth(kernel));
        fixed (float* pb = b)
            for (int jb = 0; jb < packed.ColumnBlocks; jb++)
                for (int pb2 = 0; pb2 < packed.DepthBlocks; pb2++)
                {
                    int jc = jb * NC, pc = pb2 * KC;
                    PackB(transposeB, pb, ldb, pc, jc, Math.Min(KC, k - pc), Math.Min(NC, n - jc), packed.Nr, packed.Block(jb, pb2));
                }
        return packed;
    }

    /// <summary>
    /// C = α·op(A)·B + β·C with B packed by <see cref="Prepack(bool, ReadOnlySpan{float}, int, int, int)"/> (k×n);
    /// op(A) is m×k, C is m×n, row-major. The same operations in the same order as the unpacked
    /// <see cref="Multiply(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int, int)"/>,
    /// so the results are bitwise identical to it.
    /// </summary>
    /// <exception cref="ArgumentException">A negative m, a or c too short for the shapes, or c overlapping a.</exception>
    public static void Multiply(bool transposeA, int m, float alpha, ReadOnlySpan<float> a, int lda, GemmPackedB b,
                                float beta, Span<float> c, int ldc, int maxThreads = 0)
        => Multiply(transposeA, m, alpha, a, lda, b, beta, c, ldc, null, maxThreads);

    /// <summary>
    /// <see cref="Multiply(bool, int, float, ReadOnlySpan{float}, int, GemmPackedB, float, Span{float}, int, int)"/>, then
    /// <paramref name="epilogue"/>'s callbacks on each part of C as soon as it holds its final value, on the thread that
    /// computed it, while it is still in cache: a bias and an activation, or a residual and a LayerNorm, without a
    /// separate pass over C from memory. With a <see cref="GemmEpilogue.Rows"/> callback the threads split C by rows.
    /// </summary>
    /// <exception cref="ArgumentException">A negative m, a or c too short for the shapes, or c overlapping a.</exception>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void Multiply(bool transposeA, int m, float alpha, ReadOnlySpan<float> a, int lda, GemmPackedB b,
                                float beta, Span<float> c, int ldc, GemmEpilogue? epilogue, int maxThreads = 0)
    {
        ArgumentNullException.ThrowIfNull(b);
        if (m < 0) throw new ArgumentOutOfRangeException(nameof(m), m, "expected m ≥ 0");
        if (maxThreads < 0) throw new ArgumentOutOfRangeException(nameof(maxThreads), maxThreads, "expected maxThreads ≥ 0 (0 = all cores)");
        int n = b.N, k = b.K;
        CheckMatrix("a", transposeA ? "k×m (A transposed)" : "m×k", a.Length, transposeA ? k : m, transposeA ? m : k, lda, "lda");
        CheckMatrix("c", "m×n", c.Length, m, n, ldc, "ldc");
        if (m > 0 && n > 0 && k > 0 && c.Overlaps(a))
            throw new ArgumentException("expected c not to overlap a: the kernel reads A after writing parts of C", nameof(c));
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pc = c)
        {
            if (k == 0 || alpha == 0)
            {
                ScaleC(m, n, beta, pc, ldc);
                epilogue?.Tile?.Invoke(0, m, 0, n);
                epilogue?.Rows?.Invoke(0, m);
                return;
            }
            int threads = ThreadCount(maxThreads);
            if ((long)m * n * k < 1 << 20) threads = 1;
            // the same split as the unpacked product: row bands of MR, or column bands of whole slivers
            // (a row epilogue needs whole rows on one thread)
            bool splitRows = m >= n || epilogue?.Rows is not null;
            int mr = b.Kernel == Kernel.Scalar ? 4 : MR;
            int units = splitRows ? (m + mr - 1) / mr : (n + b.Nr - 1) / b.Nr;
            threads = Math.Min(threads, units);
            if (threads <= 1) { SerialPacked(transposeA, 0, m, 0, n, alpha, pa, lda, b, beta, pc, ldc, epilogue); return; }
            nint ia = (nint)pa, ic = (nint)pc;
            Parallel.For(0, threads, new ParallelOptions { MaxDegreeOfParallelism = threads }, t =>
            {
                int u0 = (int)((long)units * t / threads), u1 = (int)((long)units * (t + 1) / threads);
                if (splitRows) SerialPacked(transposeA, u0 * mr, Math.Min(m, u1 * mr), 0, n, alpha, (float*)ia, lda, b, beta, (float*)ic, ldc, epilogue);
                else SerialPacked(transposeA, 0, m, u0 * b.Nr, Math.Min(n, u1 * b.Nr), alpha, (float*)ia, lda, b, beta, (float*)ic, ldc, epilogue);
            });
        }
    }

    /// <summary>Rows [r0, r1) and columns [c0, c1) of C (c0 a multiple of the sliver width) on one thread.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void SerialPacked(bool transposeA, int r0, int r1, int c0, int c1, float alpha, float* a, int lda,
                                     GemmPackedB b, float beta, float* c, int ldc, GemmEpilogue? epilogue)
    {
        // a row is whole after one panel only when one column block spans all of C; with several, Rows runs once, at the end
        bool rowsAtEnd = epilogue?.Rows is not null && b.ColumnBlocks > 1;
        var panelEpilogue = !rowsAtEnd ? epilogue : epilogue!.Tile is null ? null : new GemmEpilogue { Tile = epilogue.Tile };
        if (r1 <= r0 || c1 <= c0) return;
        int m = r1 - r0, k = b.K, mr = b.Kernel == Kernel.Scalar ? 4 : MR;
        float* aPart = transposeA ? a + r0 : a + (long)r0 * lda;
        float* cPart = c + (long)r0 * ldc;
        int aSize = Math.Min(MC / mr * mr, (m + mr - 1) / mr * mr) * Math.Min(KC, k) + 16;
        float[] rented = ArrayPool<float>.Shared.Rent(aSize);
        try
        {
            fixed (float* buffer = rented)
            {
                float* aPack = Align64(buffer);
                for (int jb = c0 / NC; jb < b.ColumnBlocks && jb * NC < c1; jb++)
                {
                    int jc = jb * NC, ncCur = Math.Min(NC, b.N - jc);
                    int j0 = Math.Max(c0 - jc, 0), j1 = Math.Min(c1 - jc, ncCur);
                    for (int pb = 0; pb < b.DepthBlocks; pb++)
                    {
                        int pc = pb * KC;
                        bool last = pb == b.DepthBlocks - 1;
                        Panel(transposeA, aPart, lda, m, pc, Math.Min(KC, k - pc), b.Block(jb, pb), j0, j1, cPart + jc, ldc,
                              alpha, pc == 0 ? beta : 1f, b.Kernel, mr, b.Nr, aPack, last ? panelEpilogue : null, r0, jc);
                    }
                }
            }
        }
        finally { ArrayPool<float>.Shared.Return(rented); }
        if (rowsAtEnd) epilogue!.Rows!(r0, r1);
    }

    private static float* Align64(float* p) => (float*)(((nint)p + 63) & ~(nint)63);

    /// <summary>
    /// Packs op(A)[ic..ic+mc, pc..pc+kc] as MR-tall slivers: sliver s holds, for each p, the MR values
    /// op(A)[ic + s·MR + i, pc + p] contiguously; rows past mc are zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackA(bool transposeA, float* a, int lda, int ic, int pc, int mc, int kc, int mr, float* dst)
    {
        for (int ir = 0; ir < mc; ir += mr)
        {
            int rows = Math.Min(mr, mc - ir);
            float* d = dst + (long)ir * kc;
            if (!transposeA && rows == 6 && mr == 6)
            {
                // The common case: read six row streams side by side and write the sliver sequentially
                // (the prefetchers follow six streams; scattered writes with stride mr were 5× slower).
                float* r0 = a + (long)(ic + ir) * lda + pc, r1 = r0 + lda, r2 = r1 + lda, r3 = r2 + lda, r4 = r3 + lda, r5 = r4 + lda;
                int p = 0;
                if (Avx512F.IsSupported)
                    for (; p + 16 <= kc; p += 16, d += 96) Transpose6x16(r0 + p, r1 + p, r2 + p, r3 + p, r4 + p, r5 + p, d);
                for (; p < kc; p++, d += 6)
                {
                    d[0] = r0[p]; d[1] = r1[p]; d[2] = r2[p]; d[3] = r3[p]; d[4] = r4[p]; d[5] = r5[p];
                }
                continue;
            }
            if (!transposeA)
            {
                // op(A) = A: row i is contiguous in p; write it with stride mr.
                for (int i = 0; i < rows; i++)
                {
                    float* src = a + (long)(ic + ir + i) * lda + pc;
                    for (int p = 0; p < kc; p++) d[p * mr + i] = src[p];
                }
            }
            else if (rows == 6 && mr == 6 && Vector256.IsHardwareAccelerated)
            {
                // op(A) = Aᵀ: for fixed p the six rows are six contiguous floats. Copy eight at a time: the two extra
                // land where step p + 1 writes next (the sliver is written in order), and they are read from A's
                // next stored row, which exists for every p but the last; the last step copies six.
                float* src = a + (long)pc * lda + ic + ir;
                int p = 0;
                for (; p + 1 < kc; p++, src += lda, d += 6) Vector256.Store(Vector256.Load(src), d);
                d[0] = src[0]; d[1] = src[1]; d[2] = src[2]; d[3] = src[3]; d[4] = src[4]; d[5] = src[5];
                continue;
            }
            else
            {
                // op(A) = Aᵀ: for fixed p the rows i are contiguous in memory.
                for (int p = 0; p < kc; p++)
                {
                    float* src = a + (long)(pc + p) * lda + ic + ir;
                    for (int i = 0; i < rows; i++) d[p * mr + i] = src[i];
                }
            }
            if (rows < mr)
                for (int p = 0; p < kc; p++)
                    for (int i = rows; i < mr; i++) d[p * mr + i] = 0f;
        }
    }

    // Transpose6x16 tables: output vector o, lane l holds flat index f = 16·o + l = 6·p + i, i.e. row
    // i = f mod 6 at column p = f div 6. Pair (r0, r1) supplies lanes with i ∈ {0, 1} through one two-source
    // permute (index p for the first source, 16 + p for the second); pairs (r2, r3) and (r4, r5) likewise,
    // and two blends keyed on i merge the three.
    private static readonly int[] TransposeIndex = BuildTransposeIndex();
    private static readonly int[] TransposeMask = BuildTransposeMask();

    private static int[] BuildTransposeIndex()
    {
        var t = new int[6 * 16];
        for (int o = 0; o < 6; o++)
            for (int l = 0; l < 16; l++)
            {
                int f = 16 * o + l, p = f / 6, i = f % 6;
                t[o * 16 + l] = (i % 2 == 0 ? 0 : 16) + p;
            }
        return t;
    }

    private static int[] BuildTransposeMask()
    {
        // Per output vector: lane is −1 where i ∈ {2, 3} (first blend), then where i ∈ {4, 5} (second).
        var t = new int[6 * 32];
        for (int o = 0; o < 6; o++)
            for (int l = 0; l < 16; l++)
            {
                int i = (16 * o + l) % 6;
                t[o * 32 + l] = i is 2 or 3 ? -1 : 0;
                t[o * 32 + 16 + l] = i is 4 or 5 ? -1 : 0;
            }
        return t;
    }

    /// <summary>Writes d[6·p + i] = r_i[p] for p in [0, 16): six rows of 16 into one 96-float sliver piece.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose6x16(float* r0, float* r1, float* r2, float* r3, float* r4, float* r5, float* d)
    {
        var x0 = Vector512.Load(r0); var x1 = Vector512.Load(r1); var x2 = Vector512.Load(r2);
        var x3 = Vector512.Load(r3); var x4 = Vector512.Load(r4); var x5 = Vector512.Load(r5);
        fixed (int* index = TransposeIndex, mask = TransposeMask)
            for (int o = 0; o < 6; o++)
            {
                var idx = Vector512.Load(index + o * 16);
                var p01 = Avx512F.PermuteVar16x32x2(x0, idx, x1);
                var p23 = Avx512F.PermuteVar16x32x2(x2, idx, x3);
                var p45 = Avx512F.PermuteVar16x32x2(x4, idx, x5);
                var m23 = Vector512.Load(mask + o * 32).AsSingle();
                var m45 = Vector512.Load(mask + o * 32 + 16).AsSingle();
                Vector512.Store(Vector512.ConditionalSelect(m45, p45, Vector512.ConditionalSelect(m23, p23, p01)), d + o * 16);
            }
    }

    /// <summary>
    /// Packs op(B)[pc..pc+kc, jc..jc+nc] as NR-wide slivers: sliver s holds, for each p, the NR values
    /// op(B)[pc + p, jc + s·NR + j] contiguously; columns past nc are zeros.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void PackB(bool transposeB, float* b, int ldb, int pc, int jc, int kc, int nc, int nr, float* dst)
    {
        for (int jr = 0; jr < nc; jr += nr)
        {
            int cols = Math.Min(nr, nc - jr);
            // zero padding only as far as the kernel reads: a 64-wide edge sliver with ≤ 16 (≤ 32) columns goes to
            // the 16- (32-) wide edge kernel, which never looks past column 16 (32)
            int width = nr == NR && cols <= 16 ? 16 : nr == NR && cols <= 32 ? 32 : nr;
            float* d = dst + (long)jr * kc;
            if (!transposeB)
            {
                // whole 8-float pieces by vector, the rest (and the zeros up to an 8 boundary) one float at a time:
                // a memmove call per row cost more than copying the one or few floats of an edge sliver
                int whole = cols & ~7, zeroTo = Math.Min(width, (cols + 7) & ~7);
                for (int p = 0; p < kc; p++)
                {
                    float* src = b + (long)(pc + p) * ldb + jc + jr, row = d + p * nr;
                    int j = 0;
                    for (; j < whole; j += 8) Vector256.Store(Vector256.Load(src + j), row + j);
                    for (; j < cols; j++) row[j] = src[j];
                    for (; j < zeroTo; j++) row[j] = 0f;
                    for (; j < width; j += 8) Vector256<float>.Zero.Store(row + j);
                }
            }
            else
            {
                // op(B) = Bᵀ: column j of op(B) is row j of B. Eight rows are read side by side so each
                // p writes 32 contiguous bytes (one row at a time wrote one float per cache line).
                int j = 0;
                for (; j + 8 <= cols; j += 8)
                {
                    float* s0 = b + (long)(jc + jr + j) * ldb + pc, s1 = s0 + ldb, s2 = s1 + ldb, s3 = s2 + ldb,
                           s4 = s3 + ldb, s5 = s4 + ldb, s6 = s5 + ldb, s7 = s6 + ldb;
                    float* dj = d + j;
                    for (int p = 0; p < kc; p++, dj += nr)
                    {
                        dj[0] = s0[p]; dj[1] = s1[p]; dj[2] = s2[p]; dj[3] = s3[p];
                        dj[4] = s4[p]; dj[5] = s5[p]; dj[6] = s6[p]; dj[7] = s7[p];
                    }
                }
                for (; j < cols; j++)
                {
                    float* src = b + (long)(jc + jr + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) d[p * nr + j] = src[p];
                }
                if (cols < width)
                    for (int p = 0; p < kc; p++)
                        new Span<float>(d + p * nr + cols, width - cols).Clear();
            }
        }
    }

    /// <summary>6×64 tile: 24 zmm accumulators over kc rank-1 updates, then C = α·acc + β·C. op(A)[i, p] is read at
    /// a[i·rs + p·cs]: a packed sliver (rs = 1, cs = MR) or A in place (rs = lda, cs = 1).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro512(float* a, nint rs, nint cs, float* b, int kc, float* c, int ldc, float alpha, float beta, int mr, int nr, float* tile)
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        Vector512<float> c40 = default, c41 = default, c42 = default, c43 = default;
        Vector512<float> c50 = default, c51 = default, c52 = default, c53 = default;
        // The C tile's 24 cache lines sit in 6 rows far apart, where no hardware prefetcher looks;
        // asking for them now lets the misses overlap the k loop instead of stalling the update.
        if (Sse.IsSupported && mr == MR)
            for (int i = 0; i < MR; i++)
            {
                byte* row = (byte*)(c + (long)i * ldc);
                Sse.Prefetch0(row); Sse.Prefetch0(row + 64); Sse.Prefetch0(row + 128); Sse.Prefetch0(row + 192);
            }
        float* a3 = a + 3 * rs;
        nint rs2 = 2 * rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b); var b1 = Vector512.LoadAligned(b + 16);
            var b2 = Vector512.LoadAligned(b + 32); var b3 = Vector512.LoadAligned(b + 48);
            var ai = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ai, b0, c00); c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(ai, b2, c02); c03 = Vector512.FusedMultiplyAdd(ai, b3, c03);
            ai = Vector512.Create(a[rs]);
            c10 = Vector512.FusedMultiplyAdd(ai, b0, c10); c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(ai, b2, c12); c13 = Vector512.FusedMultiplyAdd(ai, b3, c13);
            ai = Vector512.Create(a[rs2]);
            c20 = Vector512.FusedMultiplyAdd(ai, b0, c20); c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
            c22 = Vector512.FusedMultiplyAdd(ai, b2, c22); c23 = Vector512.FusedMultiplyAdd(ai, b3, c23);
            ai = Vector512.Create(a3[0]);
            c30 = Vector512.FusedMultiplyAdd(ai, b0, c30); c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
            c32 = Vector512.FusedMultiplyAdd(ai, b2, c32); c33 = Vector512.FusedMultiplyAdd(ai, b3, c33);
            ai = Vector512.Create(a3[rs]);
            c40 = Vector512.FusedMultiplyAdd(ai, b0, c40); c41 = Vector512.FusedMultiplyAdd(ai, b1, c41);
            c42 = Vector512.FusedMultiplyAdd(ai, b2, c42); c43 = Vector512.FusedMultiplyAdd(ai, b3, c43);
            ai = Vector512.Create(a3[rs2]);
            c50 = Vector512.FusedMultiplyAdd(ai, b0, c50); c51 = Vector512.FusedMultiplyAdd(ai, b1, c51);
            c52 = Vector512.FusedMultiplyAdd(ai, b2, c52); c53 = Vector512.FusedMultiplyAdd(ai, b3, c53);
            a += cs; a3 += cs; b += NR;
        }
        bool full = mr == MR && nr == NR;
        float* dst = full ? c : tile;
        int ld = full ? ldc : NR;
        // Full tiles update C directly; edge tiles go through the scratch tile so only valid cells are touched.
        if (!full || beta == 0)
        {
            var al = Vector512.Create(alpha);
            Vector512.Store(c00 * al, dst); Vector512.Store(c01 * al, dst + 16); Vector512.Store(c02 * al, dst + 32); Vector512.Store(c03 * al, dst + 48); dst += ld;
            Vector512.Store(c10 * al, dst); Vector512.Store(c11 * al, dst + 16); Vector512.Store(c12 * al, dst + 32); Vector512.Store(c13 * al, dst + 48); dst += ld;
            Vector512.Store(c20 * al, dst); Vector512.Store(c21 * al, dst + 16); Vector512.Store(c22 * al, dst + 32); Vector512.Store(c23 * al, dst + 48); dst += ld;
            Vector512.Store(c30 * al, dst); Vector512.Store(c31 * al, dst + 16); Vector512.Store(c32 * al, dst + 32); Vector512.Store(c33 * al, dst + 48); dst += ld;
            Vector512.Store(c40 * al, dst); Vector512.Store(c41 * al, dst + 16); Vector512.Store(c42 * al, dst + 32); Vector512.Store(c43 * al, dst + 48); dst += ld;
            Vector512.Store(c50 * al, dst); Vector512.Store(c51 * al, dst + 16); Vector512.Store(c52 * al, dst + 32); Vector512.Store(c53 * al, dst + 48);
            if (!full) WriteEdge(tile, NR, c, ldc, beta, mr, nr);
            return;
        }
        Update(c00, c01, c02, c03, c, alpha, beta); c += ldc;
        Update(c10, c11, c12, c13, c, alpha, beta); c += ldc;
        Update(c20, c21, c22, c23, c, alpha, beta); c += ldc;
        Update(c30, c31, c32, c33, c, alpha, beta); c += ldc;
        Update(c40, c41, c42, c43, c, alpha, beta); c += ldc;
        Update(c50, c51, c52, c53, c, alpha, beta);
    }

    /// <summary>Narrow column edges up to this width take <see cref="EdgeColumnsT"/> when A is stored transposed.</summary>
    internal const int EdgeColumnsMax = 24;

    /// <summary>
    /// The last ≤ <see cref="EdgeColumnsMax"/> columns of C when A is stored transposed (k×m, so the m values of one k
    /// step are contiguous): vectors run down the rows of C instead of along its columns. The 6×16 edge tile keeps
    /// 16 lanes busy for, at n = 129, one valid column, and its one load of B feeds only six FMAs, so it ran at a
    /// quarter of the speed of a full tile; here each k step loads 64 rows of A in place, broadcasts two columns'
    /// values of the packed B sliver and issues 8 FMAs, all of them useful but the padding rows and columns.
    /// Every C element is still one FMA chain over k in order, then α·acc and β·C as on every edge tile, so the
    /// result is bitwise the one the 6-row kernels give (as are those of the 2- and 4-row kernels and of in-place A).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void EdgeColumnsT(float* a, int lda, float* b, int kc, int rows, int cols, float* c, int ldc, float alpha, float beta, float* tile)
    {
        var al = Vector512.Create(alpha);
        for (int i0 = 0; i0 < rows; i0 += 64)
        {
            int count = Math.Min(64, rows - i0);
            float* ai = a + i0;
            for (int j0 = 0; j0 < cols; j0 += 2)
            {
                float* bj = b + j0;
                Vector512<float> x0 = default, x1 = default, x2 = default, x3 = default;
                Vector512<float> y0 = default, y1 = default, y2 = default, y3 = default;
                if (count == 64)
                {
                    float* ap = ai, bp = bj;
                    for (int p = 0; p < kc; p++, ap += lda, bp += NR)
                    {
                        var a0 = Vector512.Load(ap); var a1 = Vector512.Load(ap + 16);
                        var a2 = Vector512.Load(ap + 32); var a3 = Vector512.Load(ap + 48);
                        var u = Vector512.Create(bp[0]); var w = Vector512.Create(bp[1]);
                        x0 = Vector512.FusedMultiplyAdd(u, a0, x0); x1 = Vector512.FusedMultiplyAdd(u, a1, x1);
                        x2 = Vector512.FusedMultiplyAdd(u, a2, x2); x3 = Vector512.FusedMultiplyAdd(u, a3, x3);
                        y0 = Vector512.FusedMultiplyAdd(w, a0, y0); y1 = Vector512.FusedMultiplyAdd(w, a1, y1);
                        y2 = Vector512.FusedMultiplyAdd(w, a2, y2); y3 = Vector512.FusedMultiplyAdd(w, a3, y3);
                    }
                }
                else
                {
                    // the last rows: masked loads, which never touch memory past the valid rows
                    var lane = Vector512.Create(0f, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
                    var m0 = Vector512.LessThan(lane, Vector512.Create((float)count));
                    var m1 = Vector512.LessThan(lane, Vector512.Create((float)(count - 16)));
                    var m2 = Vector512.LessThan(lane, Vector512.Create((float)(count - 32)));
                    var m3 = Vector512.LessThan(lane, Vector512.Create((float)(count - 48)));
                    float* ap = ai, bp = bj;
                    for (int p = 0; p < kc; p++, ap += lda, bp += NR)
                    {
                        var a0 = Avx512F.MaskLoad(ap, m0, default); var a1 = Avx512F.MaskLoad(ap + 16, m1, default);
                        var a2 = Avx512F.MaskLoad(ap + 32, m2, default); var a3 = Avx512F.MaskLoad(ap + 48, m3, default);
                        var u = Vector512.Create(bp[0]); var w = Vector512.Create(bp[1]);
                        x0 = Vector512.FusedMultiplyAdd(u, a0, x0); x1 = Vector512.FusedMultiplyAdd(u, a1, x1);
                        x2 = Vector512.FusedMultiplyAdd(u, a2, x2); x3 = Vector512.FusedMultiplyAdd(u, a3, x3);
                        y0 = Vector512.FusedMultiplyAdd(w, a0, y0); y1 = Vector512.FusedMultiplyAdd(w, a1, y1);
                        y2 = Vector512.FusedMultiplyAdd(w, a2, y2); y3 = Vector512.FusedMultiplyAdd(w, a3, y3);
                    }
                }
                Vector512.Store(x0 * al, tile); Vector512.Store(x1 * al, tile + 16); Vector512.Store(x2 * al, tile + 32); Vector512.Store(x3 * al, tile + 48);
                Vector512.Store(y0 * al, tile + 64); Vector512.Store(y1 * al, tile + 80); Vector512.Store(y2 * al, tile + 96); Vector512.Store(y3 * al, tile + 112);
                int pair = Math.Min(2, cols - j0);
                for (int i = 0; i < count; i++)
                {
                    float* row = c + (long)(i0 + i) * ldc + j0;
                    for (int j = 0; j < pair; j++)
                        row[j] = beta == 0 ? tile[j * 64 + i] : MathF.FusedMultiplyAdd(beta, row[j], tile[j * 64 + i]);
                }
            }
        }
    }

    private interface IRowCount { static abstract int Rows { get; } }
    private struct TwoRows : IRowCount { public static int Rows => 2; }
    private struct FourRows : IRowCount { public static int Rows => 4; }

    /// <summary>2×64 or 4×64 edge tile (<typeparamref name="TRows"/>; the JIT compiles one body per row count) for the
    /// last rows of A: the 6-row kernel would spend as long on one valid row as on six. Two rows still give 8
    /// accumulators, enough to keep both FMA pipes busy through the 4-cycle latency, so the edge costs a third of a
    /// full tile (two thirds with four rows).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro512Short<TRows>(float* a, nint rs, nint cs, float* b, int kc, float* c, int ldc, float alpha, float beta, int mr, int nr, float* tile)
        where TRows : struct, IRowCount
    {
        Vector512<float> c00 = default, c01 = default, c02 = default, c03 = default;
        Vector512<float> c10 = default, c11 = default, c12 = default, c13 = default;
        Vector512<float> c20 = default, c21 = default, c22 = default, c23 = default;
        Vector512<float> c30 = default, c31 = default, c32 = default, c33 = default;
        nint rs2 = 2 * rs, rs3 = 3 * rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b); var b1 = Vector512.LoadAligned(b + 16);
            var b2 = Vector512.LoadAligned(b + 32); var b3 = Vector512.LoadAligned(b + 48);
            var ai = Vector512.Create(a[0]);
            c00 = Vector512.FusedMultiplyAdd(ai, b0, c00); c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            c02 = Vector512.FusedMultiplyAdd(ai, b2, c02); c03 = Vector512.FusedMultiplyAdd(ai, b3, c03);
            ai = Vector512.Create(a[rs]);
            c10 = Vector512.FusedMultiplyAdd(ai, b0, c10); c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            c12 = Vector512.FusedMultiplyAdd(ai, b2, c12); c13 = Vector512.FusedMultiplyAdd(ai, b3, c13);
            if (TRows.Rows > 2)
            {
                ai = Vector512.Create(a[rs2]);
                c20 = Vector512.FusedMultiplyAdd(ai, b0, c20); c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
                c22 = Vector512.FusedMultiplyAdd(ai, b2, c22); c23 = Vector512.FusedMultiplyAdd(ai, b3, c23);
                ai = Vector512.Create(a[rs3]);
                c30 = Vector512.FusedMultiplyAdd(ai, b0, c30); c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
                c32 = Vector512.FusedMultiplyAdd(ai, b2, c32); c33 = Vector512.FusedMultiplyAdd(ai, b3, c33);
            }
            a += cs; b += NR;
        }
        var al = Vector512.Create(alpha);
        Vector512.Store(c00 * al, tile); Vector512.Store(c01 * al, tile + 16); Vector512.Store(c02 * al, tile + 32); Vector512.Store(c03 * al, tile + 48);
        Vector512.Store(c10 * al, tile + NR); Vector512.Store(c11 * al, tile + NR + 16); Vector512.Store(c12 * al, tile + NR + 32); Vector512.Store(c13 * al, tile + NR + 48);
        if (TRows.Rows > 2)
        {
            Vector512.Store(c20 * al, tile + 2 * NR); Vector512.Store(c21 * al, tile + 2 * NR + 16); Vector512.Store(c22 * al, tile + 2 * NR + 32); Vector512.Store(c23 * al, tile + 2 * NR + 48);
            Vector512.Store(c30 * al, tile + 3 * NR); Vector512.Store(c31 * al, tile + 3 * NR + 16); Vector512.Store(c32 * al, tile + 3 * NR + 32); Vector512.Store(c33 * al, tile + 3 * NR + 48);
        }
        WriteEdge(tile, NR, c, ldc, beta, mr, nr);
    }

    /// <summary>6×16 edge tile (the first 16 columns of a 64-wide packed sliver): 6 zmm accumulators. (Splitting k over
    /// two accumulator sets would keep both FMA pipes busier, but changes the summation order and so the bits.)</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro512x16(float* a, nint rs, nint cs, float* b, int kc, float* c, int ldc, float alpha, float beta, int mr, int nr, float* tile)
    {
        Vector512<float> c0 = default, c1 = default, c2 = default, c3 = default, c4 = default, c5 = default;
        float* a3 = a + 3 * rs;
        nint rs2 = 2 * rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b);
            c0 = Vector512.FusedMultiplyAdd(Vector512.Create(a[0]), b0, c0); c1 = Vector512.FusedMultiplyAdd(Vector512.Create(a[rs]), b0, c1);
            c2 = Vector512.FusedMultiplyAdd(Vector512.Create(a[rs2]), b0, c2); c3 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[0]), b0, c3);
            c4 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[rs]), b0, c4); c5 = Vector512.FusedMultiplyAdd(Vector512.Create(a3[rs2]), b0, c5);
            a += cs; a3 += cs; b += NR;
        }
        var al = Vector512.Create(alpha);
        Vector512.Store(c0 * al, tile); Vector512.Store(c1 * al, tile + NR); Vector512.Store(c2 * al, tile + 2 * NR);
        Vector512.Store(c3 * al, tile + 3 * NR); Vector512.Store(c4 * al, tile + 4 * NR); Vector512.Store(c5 * al, tile + 5 * NR);
        WriteEdge(tile, NR, c, ldc, beta, mr, nr);
    }

    /// <summary>6×32 edge tile (the first 32 columns of a 64-wide packed sliver): 12 zmm accumulators.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro512x32(float* a, nint rs, nint cs, float* b, int kc, float* c, int ldc, float alpha, float beta, int mr, int nr, float* tile)
    {
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector512<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        float* a3 = a + 3 * rs;
        nint rs2 = 2 * rs;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.LoadAligned(b); var b1 = Vector512.LoadAligned(b + 16);
            var ai = Vector512.Create(a[0]); c00 = Vector512.FusedMultiplyAdd(ai, b0, c00); c01 = Vector512.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector512.Create(a[rs]); c10 = Vector512.FusedMultiplyAdd(ai, b0, c10); c11 = Vector512.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector512.Create(a[rs2]); c20 = Vector512.FusedMultiplyAdd(ai, b0, c20); c21 = Vector512.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector512.Create(a3[0]); c30 = Vector512.FusedMultiplyAdd(ai, b0, c30); c31 = Vector512.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector512.Create(a3[rs]); c40 = Vector512.FusedMultiplyAdd(ai, b0, c40); c41 = Vector512.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector512.Create(a3[rs2]); c50 = Vector512.FusedMultiplyAdd(ai, b0, c50); c51 = Vector512.FusedMultiplyAdd(ai, b1, c51);
            a += cs; a3 += cs; b += NR;
        }
        var al = Vector512.Create(alpha);
        Vector512.Store(c00 * al, tile); Vector512.Store(c01 * al, tile + 16);
        Vector512.Store(c10 * al, tile + NR); Vector512.Store(c11 * al, tile + NR + 16);
        Vector512.Store(c20 * al, tile + 2 * NR); Vector512.Store(c21 * al, tile + 2 * NR + 16);
        Vector512.Store(c30 * al, tile + 3 * NR); Vector512.Store(c31 * al, tile + 3 * NR + 16);
        Vector512.Store(c40 * al, tile + 4 * NR); Vector512.Store(c41 * al, tile + 4 * NR + 16);
        Vector512.Store(c50 * al, tile + 5 * NR); Vector512.Store(c51 * al, tile + 5 * NR + 16);
        WriteEdge(tile, NR, c, ldc, beta, mr, nr);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Update(Vector512<float> x0, Vector512<float> x1, Vector512<float> x2, Vector512<float> x3, float* c, float alpha, float beta)
    {
        var al = Vector512.Create(alpha); var be = Vector512.Create(beta);
        Vector512.Store(Vector512.FusedMultiplyAdd(x0, al, be * Vector512.Load(c)), c);
        Vector512.Store(Vector512.FusedMultiplyAdd(x1, al, be * Vector512.Load(c + 16)), c + 16);
        Vector512.Store(Vector512.FusedMultiplyAdd(x2, al, be * Vector512.Load(c + 32)), c + 32);
        Vector512.Store(Vector512.FusedMultiplyAdd(x3, al, be * Vector512.Load(c + 48)), c + 48);
    }

    /// <summary>Copies the valid mr×nr corner of an α-scaled tile into C, adding β·C unless β = 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void WriteEdge(float* tile, int tileLd, float* c, int ldc, float beta, int mr, int nr)
    {
        for (int i = 0; i < mr; i++)
        {
            float* t = tile + i * tileLd, row = c + (long)i * ldc;
            if (beta == 0) for (int j = 0; j < nr; j++) row[j] = t[j];
            else for (int j = 0; j < nr; j++) row[j] = MathF.FusedMultiplyAdd(beta, row[j], t[j]);
        }
    }

    /// <summary>6×16 tile in 12 ymm accumulators, for CPUs without AVX-512.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void Micro256(float* a, float* b, int kc, float* c, int ldc, float alpha, float beta, int mr, int nr, float* tile)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default;
        Vector256<float> c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b); var b1 = Vector256.Load(b + 8);
            var ai = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(ai, b0, c00); c01 = Vector256.FusedMultiplyAdd(ai, b1, c01);
            ai = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(ai, b0, c10); c11 = Vector256.FusedMultiplyAdd(ai, b1, c11);
            ai = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(ai, b0, c20); c21 = Vector256.FusedMultiplyAdd(ai, b1, c21);
            ai = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(ai, b0, c30); c31 = Vector256.FusedMultiplyAdd(ai, b1, c31);
            ai = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(ai, b0, c40); c41 = Vector256.FusedMultiplyAdd(ai, b1, c41);
            ai = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(ai, b0, c50); c51 = Vector256.FusedMultiplyAdd(ai, b1, c51);
            a += MR; b += 16;
        }
        var al = Vector256.Create(alpha);
        const int ld = 16;
        Vector256.Store(c00 * al, tile); Vector256.Store(c01 * al, tile + 8);
        Vector256.Store(c10 * al, tile + ld); Vector256.Store(c11 * al, tile + ld + 8);
        Vector256.Store(c20 * al, tile + 2 * ld); Vector256.Store(c21 * al, tile + 2 * ld + 8);
        Vector256.Store(c30 * al, tile + 3 * ld); Vector256.Store(c31 * al, tile + 3 * ld + 8);
        Vector256.Store(c40 * al, tile + 4 * ld); Vector256.Store(c41 * al, tile + 4 * ld + 8);
        Vector256.Store(c50 * al, tile + 5 * ld); Vector256.Store(c51 * al, tile + 5 * ld + 8);
        WriteEdge(tile, ld, c, ldc, beta, mr, nr);
    }

    /// <summary>4×4 scalar tile, the portable fallback.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void MicroScalar(float* a, float* b, int kc, float* c, int ldc, float alpha, float beta, int mr, int nr)
    {
        float* acc = stackalloc float[16];
        new Span<float>(acc, 16).Clear();
        for (int p = 0; p < kc; p++, a += 4, b += 4)
            for (int i = 0; i < 4; i++)
                for (int j = 0; j < 4; j++) acc[i * 4 + j] = MathF.FusedMultiplyAdd(a[i], b[j], acc[i * 4 + j]);
        for (int i = 0; i < 16; i++) acc[i] *= alpha;
        WriteEdge(acc, 4, c, ldc, beta, mr, nr);
    }
}

/// <summary>
/// op(B) packed once for <see cref="Gemm.Multiply(bool, int, float, ReadOnlySpan{float}, int, GemmPackedB, float, Span{float}, int, int)"/>
/// (made by <see cref="Gemm.Prepack(bool, ReadOnlySpan{float}, int, int, int)"/>): for each KC×NC block of op(B), its NR-wide
/// slivers, zero-padded, 64-byte aligned, in pinned memory. Immutable once made; safe to share between threads.
/// </summary>
public sealed unsafe class GemmPackedB
{
    private readonly float[] _data;     // pinned (never moves), so its address can be kept
    private readonly float* _base;
    private readonly long[] _offsets;   // start of block (jb, pb) at [jb · DepthBlocks + pb]

    /// <summary>Rows of op(B) (the inner dimension).</summary>
    public int K { get; }
    /// <summary>Columns of op(B) (the output width).</summary>
    public int N { get; }
    internal Gemm.Kernel Kernel { get; }
    internal int Nr { get; }
    internal int ColumnBlocks { get; }
    internal int DepthBlocks { get; }

    internal GemmPackedB(int k, int n, Gemm.Kernel kernel, int nr)
    {
        (K, N, Kernel, Nr) = (k, n, kernel, nr);
        ColumnBlocks = (n + Gemm.NC - 1) / Gemm.NC;
        DepthBlocks = (k + Gemm.KC - 1) / Gemm.KC;
        _offsets = new long[ColumnBlocks * DepthBlocks];
        long total = 0;
        for (int jb = 0; jb < ColumnBlocks; jb++)
            for (int pb = 0; pb < DepthBlocks; pb++)
            {
                _offsets[jb * DepthBlocks + pb] = total;
                int nc = Math.Min(Gemm.NC, n - jb * Gemm.NC), kc = Math.Min(Gemm.KC, k - pb * Gemm.KC);
                total += ((long)kc * ((nc + nr - 1) / nr * nr) + 15) / 16 * 16;   // each block starts 64-byte aligned
            }
        _data = GC.AllocateUninitializedArray<float>(checked((int)(total + 16)), pinned: true);
        float* p = (float*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_data));
        _base = (float*)(((nint)p + 63) & ~(nint)63);
    }

    internal float* Block(int columnBlock, int depthBlock) => _base + _offsets[columnBlock * DepthBlocks + depthBlock];
}

/// <summary>
/// Work the packed product (<see cref="Gemm.Multiply(bool, int, float, ReadOnlySpan{float}, int, GemmPackedB, float, Span{float}, int, GemmEpilogue?, int)"/>)
/// hands each finished part of C while it is still in cache, on the thread that computed it: the bias, activation,
/// residual or normalisation that would otherwise be another pass over C from memory. Coordinates are C's own
/// (row0 ≤ row &lt; row1, col0 ≤ col &lt; col1). Each part is handed over exactly once; parts never overlap, so callbacks
/// running on different threads touch different elements.
/// </summary>
public sealed class GemmEpilogue
{
    /// <summary>(row0, row1, col0, col1): a block of C (at most 144 rows × 64 columns) is final. For element-wise work
    /// (a bias, GELU): the block is in L1/L2 when it runs.</summary>
    public Action<int, int, int, int>? Tile { get; init; }

    /// <summary>(row0, row1): every column of these rows is final (blocks of at most 144 rows when C is at most 2048
    /// columns wide). For row-wise work (a residual + LayerNorm). Runs after <see cref="Tile"/> for those rows.</summary>
    public Action<int, int>? Rows { get; init; }
}
