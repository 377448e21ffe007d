using System.Diagnostics;
using System.Globalization;
using System.Runtime.CompilerServices;
using Attention.Kernels;
using Attention.Models;
using Attention.Tensors;

namespace Attention.FirstCall;

/// <summary>
/// The library's first-call cases and the loop that times them in a fresh process: inputs prepared untimed, then
/// call 1, calls 2–10, and the steady state (the median of 15 calls after about 3 s of calls, by which time tiering
/// has promoted the hot methods). One thread. The result is one line, <c>RESULT first next steady jitMs jitMethods</c>
/// (milliseconds; the JIT columns are what call 1 compiled, from <see cref="System.Runtime.JitInfo"/>: always 0
/// under Native AOT).
/// </summary>
public static class FirstCallCases
{
    /// <summary>The case names, in the bench's order.</summary>
    public static IReadOnlyList<string> Names { get; } = ["decode", "decode-flushed", "forward", "minilm-batch", "minilm-sentence"];

    /// <summary>The call of case <paramref name="name"/>, its inputs prepared.</summary>
    /// <exception cref="ArgumentException">An unknown case name.</exception>
    public static Action Create(string name) => name switch
    {
        "decode" => Decode(),
        "decode-flushed" => DecodeOneSet(),
        "forward" => Forward(),
        "minilm-batch" => MiniLmBatch(),
        "minilm-sentence" => MiniLmSentence(),
        _ => throw new ArgumentException($"unknown first-call case '{name}': expected one of {string.Join(", ", Names)}", nameof(name)),
    };

    /// <summary>What runs untimed before each call of case <paramref name="name"/> (null: nothing).</summary>
    public static Action? Before(string name) => name == "decode-flushed" ? FlushCaches : null;

    /// <summary>Times <paramref name="call"/> from its first call on (see the class summary); <paramref name="before"/>
    /// runs untimed before every call.</summary>
    public static string Time(Action call, Action? before)
    {
        ArgumentNullException.ThrowIfNull(call);
        double Once() { before?.Invoke(); var sw = Stopwatch.StartNew(); call(); return sw.Elapsed.TotalMilliseconds; }
        // the harness's own code (this timing function and the case's lambda) is compiled before the clock starts, so
        // the 1st call and its JIT column measure the library alone
        RuntimeHelpers.PrepareMethod(((Func<double>)Once).Method.MethodHandle);
        RuntimeHelpers.PrepareMethod(call.Method.MethodHandle);
        var jit0 = System.Runtime.JitInfo.GetCompilationTime();
        long methods0 = System.Runtime.JitInfo.GetCompiledMethodCount();
        double first = Once();
        double jitMs = (System.Runtime.JitInfo.GetCompilationTime() - jit0).TotalMilliseconds;
        long methods = System.Runtime.JitInfo.GetCompiledMethodCount() - methods0;
        double next = 0;
        for (int i = 0; i < 9; i++) next += Once() / 9;
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed.TotalSeconds < 3) { Once(); if (clock.ElapsedMilliseconds % 500 < 5) Thread.Sleep(20); }
        var steady = new double[15];
        for (int i = 0; i < steady.Length; i++) steady[i] = Once();
        Array.Sort(steady);
        return string.Create(CultureInfo.InvariantCulture, $"RESULT {first} {next} {steady[7]} {jitMs} {methods}");
    }

    private static readonly byte[] Flush = new byte[64 << 20];
    private static byte _flushValue;

    /// <summary>Writes 64 MB (twice the L3) so that no K/V line is left in any cache.</summary>
    public static void FlushCaches()
    {
        _flushValue++;
        for (int i = 0; i < Flush.Length; i += 64) Flush[i] = _flushValue;
    }

    private static Action Decode()
    {
        var shape = new AttentionShape(1, 8, 8, 1, 4096, 64);
        var rng = new Rng(1);
        float[] q = rng.NormalArray(8 * 64), o = new float[8 * 64];
        var kv = new (float[] K, float[] V)[8];
        for (int i = 0; i < kv.Length; i++) kv[i] = (rng.NormalArray(8 * 4096 * 64), rng.NormalArray(8 * 4096 * 64));
        var options = new AttentionOptions { MaxThreads = 1 };
        int next = 0;
        return () => { var (k, v) = kv[next++ % kv.Length]; FlashAttention.Forward(q, k, v, o, shape, options); };
    }

    private static Action DecodeOneSet()
    {
        var shape = new AttentionShape(1, 8, 8, 1, 4096, 64);
        var rng = new Rng(1);
        float[] q = rng.NormalArray(8 * 64), o = new float[8 * 64], k = rng.NormalArray(8 * 4096 * 64), v = rng.NormalArray(8 * 4096 * 64);
        var options = new AttentionOptions { MaxThreads = 1 };
        return () => FlashAttention.Forward(q, k, v, o, shape, options);
    }

    private static Action Forward()
    {
        var shape = new AttentionShape(1, 8, 8, 2048, 2048, 64);
        var rng = new Rng(2);
        float[] q = rng.NormalArray(8 * 2048 * 64), k = rng.NormalArray(8 * 2048 * 64), v = rng.NormalArray(8 * 2048 * 64), o = new float[q.Length];
        var options = new AttentionOptions { MaxThreads = 1 };
        return () => FlashAttention.Forward(q, k, v, o, shape, options);
    }

    /// <summary>The one short sentence of the MiniLM latency cases (15 tokens with [CLS] and [SEP]).</summary>
    public const string Sentence = "The cat sat on the mat, and then it purred.";

    /// <summary>The MiniLM batch: eight different texts, each long enough to fill 128 tokens.</summary>
    public static string[] MiniLmTexts()
    {
        string[] seeds =
        [
            "The committee met on Tuesday to discuss the budget, the new library wing and the parking problem downtown.",
            "Attention mechanisms let a model weigh every input position when it computes each output, at a cost quadratic in length.",
            "She walked along the river at dawn, counting herons, while the city slowly woke up behind the old stone bridge.",
            "Quarterly revenue rose 12% to $4.2 billion, driven by cloud services; margins narrowed as hardware costs climbed.",
            "To bake the bread, mix flour, water, salt and yeast, knead for ten minutes, then let the dough rest overnight.",
            "The telescope recorded faint signals from a distant galaxy, and astronomers spent months ruling out instrument noise.",
            "Our team rewrote the parser in a weekend; the tests caught three regressions, two of them in error messages.",
            "Rain is expected across the north on Friday, with strong winds near the coast and snow on the higher ground.",
        ];
        return seeds.Select(s => string.Join(" ", Enumerable.Repeat(s, 8))).ToArray();
    }

    private static Action MiniLmBatch()
    {
        var model = BertModel.LoadMiniLm();
        var batch = model.Tokenize(MiniLmTexts(), maxLength: 128);
        var options = new BertRunOptions { MaxThreads = 1 };
        return () => model.Forward(batch, options);
    }

    private static Action MiniLmSentence()
    {
        var model = BertModel.LoadMiniLm();
        var batch = model.Tokenize([Sentence]);
        var options = new BertRunOptions { MaxThreads = 1 };
        return () => model.Forward(batch, options);
    }
}
