namespace Attention.Kernels;

/// <summary>
/// Ring attention (Liu, Zaharia and Abbeel, 2023, "Ring Attention with Blockwise Transformers for Near-Infinite
/// Context"), simulated on one machine: the sequence is cut into P contiguous blocks, worker w keeps query block w and
/// starts with key/value block w; in each of P rounds it attends its queries to the key/value block it holds
/// (FlashAttention.Forward, which also returns the block's row log-sum-exp), merges that partial result into its running
/// output, and passes the block to worker w + 1 (mod P). The merge of two partial results (o₁, ℓ₁) and (o₂, ℓ₂) of
/// disjoint key sets is exact:
/// <code>
///   ℓ = log(e^ℓ₁ + e^ℓ₂),   o = e^(ℓ₁ − ℓ)·o₁ + e^(ℓ₂ − ℓ)·o₂
/// </code>
/// so after P rounds every worker holds exactly softmax attention over the whole sequence. Causal: block (w, j) is
/// skipped when j &gt; w (all keys in the future), masked when j = w, and unmasked when j &lt; w; the block is still
/// sent around the ring either way (the load imbalance the striped variant fixes).
/// Layout as <see cref="FlashAttention"/>: query (B, H, N, D), key/value (B, G, N, D), output (B, H, N, D).
/// </summary>
public static class RingAttention
{
    /// <summary>What the simulation moved.</summary>
    /// <param name="BytesSentPerWorker">float32 bytes each worker sent: (P − 1) key/value blocks.</param>
    /// <param name="BlockComputations">(worker, block) pairs actually computed (P² without causal).</param>
    /// <param name="BlockLength">Tokens per block (the last may be shorter).</param>
    public sealed record Traffic(long BytesSentPerWorker, int BlockComputations, int BlockLength);

    /// <summary>Runs the ring over <paramref name="workers"/> simulated devices and writes the full attention output.</summary>
    /// <exception cref="ArgumentException">Sizes as in FlashAttention.Forward; L ≠ S; workers outside [1, N]; options other than Causal/Scale/SoftCap.</exception>
    public static Traffic Forward(ReadOnlySpan<float> query, ReadOnlySpan<float> key, ReadOnlySpan<float> value,
                                  Span<float> output, AttentionShape shape, AttentionOptions options, int workers)
    {
        ArgumentNullException.ThrowIfNull(options);
        AttentionArguments.Validate(query.Length, key.Length, value.Length, output.Length, shape, options, 0, "logSumExp", 0);
        var (b, h, g, l, s, d) = shape;
        if (l != s) throw new ArgumentException($"ring attention splits one sequence: expected QueryLength = KeyLength, got {l} and {s}", nameof(shape));
        if (workers < 1 || workers > Math.Max(1, l))
            throw new ArgumentException($"expected between 1 and N = {l} workers, got {workers}", nameof(workers));
        if (options.KeyLengths is not null || options.WindowLeft is not null || options.WindowRight is not null
            || options.AlibiSlopes is not null || options.SinkLogits is not null || options.SinkTokens != 0)
            throw new ArgumentException("ring attention here supports Causal, Scale and SoftCap only; got masks or biases beyond them", nameof(options));
        int block = (l + workers - 1) / workers;
        int Start(int w) => Math.Min(l, w * block);
        int Length(int w) => Math.Min(l, (w + 1) * block) - Start(w);

        var q = query.ToArray(); var k = key.ToArray(); var v = value.ToArray();
        var result = new float[output.Length];
        long sent = 0;
        int computed = 0;
        for (int w = 0; w < workers; w++)
        {
            int qs = Start(w), ql = Length(w);
            if (ql == 0) continue;
            var qBlock = Gather(q, b, h, l, d, qs, ql);
            var acc = new float[b * h * ql * d];
            var accLse = new float[b * h * ql];
            Array.Fill(accLse, float.NegativeInfinity);
            for (int round = 0; round < workers; round++)
            {
                int j = ((w - round) % workers + workers) % workers;     // the block worker w holds in this round
                if (round > 0) sent += 2L * b * g * Length(j) * d * sizeof(float);   // it arrived from w − 1 (its own send is counted there; symmetric)
                int ks = Start(j), kl = Length(j);
                if (kl == 0 || (options.Causal && j > w)) continue;
                var part = new float[acc.Length];
                var partLse = new float[accLse.Length];
                var blockOptions = options with { Causal = options.Causal && j == w };
                FlashAttention.Forward(qBlock, Gather(k, b, g, s, d, ks, kl), Gather(v, b, g, s, d, ks, kl), part,
                                       new AttentionShape(b, h, g, ql, kl, d), blockOptions, partLse);
                Merge(acc, accLse, part, partLse, d);
                computed++;
            }
            Scatter(acc, result, b, h, l, d, qs, ql);
        }
        result.CopyTo(output);
        // every worker receives P − 1 blocks, so (blocks equal or not) the average sent per worker is the total / P
        return new Traffic(sent / workers, computed, block);
    }

    /// <summary>(ℓ, o) ← merge of (ℓ, o) and (ℓ₂, o₂) over rows of width <paramref name="d"/>: ℓ = log(e^ℓ + e^ℓ₂), o = e^(ℓ₁−ℓ)·o + e^(ℓ₂−ℓ)·o₂.
    /// Rows with ℓ = −∞ (no key seen yet) take the other side unchanged.</summary>
    public static void Merge(Span<float> output, Span<float> logSumExp, ReadOnlySpan<float> part, ReadOnlySpan<float> partLogSumExp, int d)
    {
        if (output.Length != logSumExp.Length * d || part.Length != output.Length || partLogSumExp.Length != logSumExp.Length)
            throw new ArgumentException($"expected outputs of rows·{d} and row log-sum-exps of one length; got {output.Length}, {logSumExp.Length}, {part.Length}, {partLogSumExp.Length}");
        for (int r = 0; r < logSumExp.Length; r++)
        {
            float l1 = logSumExp[r], l2 = partLogSumExp[r];
            if (float.IsNegativeInfinity(l2)) continue;
            var o = output.Slice(r * d, d);
            var p = part.Slice(r * d, d);
            if (float.IsNegativeInfinity(l1)) { p.CopyTo(o); logSumExp[r] = l2; continue; }
            float m = Math.Max(l1, l2);
            float l = m + MathF.Log(MathF.Exp(l1 - m) + MathF.Exp(l2 - m));
            float a = MathF.Exp(l1 - l), c = MathF.Exp(l2 - l);
            for (int i = 0; i < d; i++) o[i] = a * o[i] + c * p[i];
            logSumExp[r] = l;
        }
    }

    private static float[] Gather(float[] x, int b, int heads, int n, int d, int start, int length)
    {
        var y = new float[b * heads * length * d];
        for (int bh = 0; bh < b * heads; bh++)
            Array.Copy(x, (bh * n + start) * d, y, bh * length * d, length * d);
        return y;
    }

    private static void Scatter(float[] block, float[] y, int b, int heads, int n, int d, int start, int length)
    {
        for (int bh = 0; bh < b * heads; bh++)
            Array.Copy(block, bh * length * d, y, (bh * n + start) * d, length * d);
    }
}
