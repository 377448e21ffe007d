using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Mechanisms;

/// <summary>How <see cref="LinearAttention"/> evaluates the same function.</summary>
public enum LinearAttentionForm
{
    /// <summary>Materialise A = φ(Q)·φ(K)ᵀ (masked when causal), then A·V: O(L·S·F) time, O(L·S) memory; the reference form.</summary>
    Parallel,
    /// <summary>One token at a time through the state S = Σ φ(kⱼ)·vⱼᵀ (an RNN): O(L·F·Dv) time, O(F·Dv) state.</summary>
    Recurrent,
    /// <summary>Blocks of C tokens: parallel inside a block, the state between blocks: O(L·C·F + L·F·Dv) time.</summary>
    Chunkwise,
}

/// <summary>
/// Linear attention (Katharopoulos et al., 2020, "Transformers are RNNs", §3.2–3.4): softmax's similarity
/// exp(q·k) is replaced by a kernel φ(q)·φ(k) with the positive feature map φ(x) = elu(x) + 1, so
/// <code>
///   oᵢ = Σⱼ φ(qᵢ)ᵀφ(kⱼ)·vⱼ / Σⱼ φ(qᵢ)ᵀφ(kⱼ)  =  φ(qᵢ)ᵀ·(Σⱼ φ(kⱼ)vⱼᵀ) / φ(qᵢ)ᵀ·(Σⱼ φ(kⱼ))
/// </code>
/// and the products associate the other way: the (F, Dv) sum Σⱼ φ(kⱼ)vⱼᵀ is shared by every query, so the cost is
/// linear in the length. Causal (j ≤ i) the sums become running sums — a recurrent state — which is what makes the
/// model an RNN at decoding time. The three <see cref="LinearAttentionForm"/>s compute the same function.
/// Q (B, H, L, D) · K (B, H, S, D) · V (B, H, S, Dv) → O (B, H, L, Dv); causal needs L = S.
/// The denominator carries ε = 1e-6 (as the paper's code does) so an all-zero feature row cannot divide by zero.
/// <see cref="Attend"/> takes any positive features (the Performer's FAVOR+ features reuse it).
/// Answer: docs/answers/21-linear-attention.md
/// </summary>
public static class LinearAttention
{
    /// <summary>The default ε added to the denominator.</summary>
    public const float DefaultEpsilon = 1e-6f;

    /// <summary>φ(x) = elu(x) + 1 = relu(x) + exp(min(x, 0)), element-wise; positive everywhere, smooth at 0.</summary>
    public static Var FeatureMap(Var x)
    {
        ArgumentNullException.ThrowIfNull(x);
        return x.Relu() + (-(-x).Relu()).Exp();
    }

    /// <summary>
    /// Linear attention with φ = elu + 1. query (B, H, L, D), key (B, H, S, D), value (B, H, S, Dv) → (B, H, L, Dv).
    /// <paramref name="chunkSize"/> is the block length of <see cref="LinearAttentionForm.Chunkwise"/> (ignored otherwise).
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, causal with L ≠ S, or an input holds NaN or ±∞.</exception>
    public static Var Forward(Var query, Var key, Var value, bool causal,
                              LinearAttentionForm form = LinearAttentionForm.Chunkwise, int chunkSize = 64, float epsilon = DefaultEpsilon)
    {
        CheckQkv(query, key, value, causal, "LinearAttention");
        CheckFinite(query, nameof(query));
        CheckFinite(key, nameof(key));
        CheckFinite(value, nameof(value));
        return Attend(FeatureMap(query), FeatureMap(key), value, causal, form, chunkSize, epsilon);
    }

    /// <summary>
    /// The kernel form on given features: phiQuery (B, H, L, F), phiKey (B, H, S, F) — non-negative — and value
    /// (B, H, S, Dv) → (B, H, L, Dv), oᵢ = Σⱼ (φqᵢ·φkⱼ)·vⱼ / (Σⱼ φqᵢ·φkⱼ + ε) over j ≤ i when causal, all j otherwise.
    /// </summary>
    /// <exception cref="ArgumentException">Shapes disagree, causal with L ≠ S, a chunk size below 1, or a negative ε.</exception>
    public static Var Attend(Var phiQuery, Var phiKey, Var value, bool causal,
                             LinearAttentionForm form = LinearAttentionForm.Chunkwise, int chunkSize = 64, float epsilon = DefaultEpsilon)
    {
        CheckQkv(phiQuery, phiKey, value, causal, "LinearAttention.Attend");
        if (chunkSize < 1) throw new ArgumentOutOfRangeException(nameof(chunkSize), chunkSize, "expected a chunk size ≥ 1");
        if (!(epsilon >= 0) || !float.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "expected a finite ε ≥ 0");
        if (!Enum.IsDefined(form)) throw new ArgumentOutOfRangeException(nameof(form), form, "expected a LinearAttentionForm");
        // V' = [V, 1]: the last column of every product below is the denominator, so numerator and normaliser
        // travel through one set of matrix products.
        int b = value.Dim(0), h = value.Dim(1), s = value.Dim(2), dv = value.Dim(3);
        var augmented = Var.Concat([value, Var.Constant(Tensor.Ones(b, h, s, 1))], 3);      // (B, H, S, Dv+1)
        var raw = form switch
        {
            LinearAttentionForm.Parallel => Parallel(phiQuery, phiKey, augmented, causal),
            LinearAttentionForm.Recurrent => Recurrent(phiQuery, phiKey, augmented, causal),
            _ => Chunkwise(phiQuery, phiKey, augmented, causal, chunkSize),
        };
        return Normalise(raw, dv, epsilon);
    }

    // (…, Dv+1) → numerator / (denominator + ε), (…, Dv)
    private static Var Normalise(Var raw, int dv, float epsilon) => raw.Slice(-1, 0, dv) / (raw.Slice(-1, dv, 1) + epsilon);

    // pass 1: A = φQ·φKᵀ (B, H, L, S), lower-triangular when causal; pass 2: A·[V, 1]
    private static Var Parallel(Var phiQ, Var phiK, Var augmented, bool causal)
    {
        var a = Var.MatMul(phiQ, phiK, transposeB: true);
        if (causal) a *= Var.Constant(LowerTriangle(phiQ.Dim(2)));
        return Var.MatMul(a, augmented);
    }

    // Non-causal: the state S = Σⱼ φkⱼ·[vⱼ, 1]ᵀ (F, Dv+1) summed token by token, then every query reads it.
    // Causal: query i reads the state after token i (S_i = S_{i−1} + φkᵢ·[vᵢ, 1]ᵀ, oᵢ = φqᵢᵀ·S_i).
    private static Var Recurrent(Var phiQ, Var phiK, Var augmented, bool causal)
    {
        int l = phiQ.Dim(2), s = phiK.Dim(2);
        Var? state = null;
        var outputs = new List<Var>(l);
        for (int t = 0; t < s; t++)
        {
            var update = Var.MatMul(phiK.Slice(2, t, 1), augmented.Slice(2, t, 1), transposeA: true);   // (B, H, F, Dv+1)
            state = state is null ? update : state + update;
            if (causal) outputs.Add(Var.MatMul(phiQ.Slice(2, t, 1), state));                         // (B, H, 1, Dv+1)
        }
        return causal ? Var.Concat(outputs, 2) : Var.MatMul(phiQ, state!);
    }

    // Blocks of C tokens. Inside block c: (φQc·φKcᵀ ⊙ M)·[Vc, 1] (causal) plus what earlier blocks left in the state,
    // φQc·S; then S += φKcᵀ·[Vc, 1]. Non-causal: the state is accumulated block by block and read once at the end.
    private static Var Chunkwise(Var phiQ, Var phiK, Var augmented, bool causal, int chunk)
    {
        int l = phiQ.Dim(2), s = phiK.Dim(2);
        Var? state = null;
        var outputs = new List<Var>();
        for (int start = 0; start < s; start += chunk)
        {
            int c = Math.Min(chunk, s - start);
            var kc = phiK.Slice(2, start, c);
            var vc = augmented.Slice(2, start, c);
            if (causal)
            {
                var qc = phiQ.Slice(2, start, c);
                var intra = Var.MatMul(Var.MatMul(qc, kc, transposeB: true) * Var.Constant(LowerTriangle(c)), vc);   // (B, H, C, Dv+1)
                outputs.Add(state is null ? intra : intra + Var.MatMul(qc, state));
            }
            var update = Var.MatMul(kc, vc, transposeA: true);                                          // (B, H, F, Dv+1)
            state = state is null ? update : state + update;
        }
        return causal ? (outputs.Count == 1 ? outputs[0] : Var.Concat(outputs, 2)) : Var.MatMul(phiQ, state!);
    }

    // (n, n) with ones on and below the diagonal
    internal static Tensor LowerTriangle(int n)
    {
        var m = Tensor.Zeros(n, n);
        var s = m.AsSpan();
        for (int i = 0; i < n; i++) s.Slice(i * n, i + 1).Fill(1f);
        return m;
    }

    /// <summary>Rank-4 Q, K, V with equal B, H, equal key/value lengths, equal query/key widths; L = S when causal.</summary>
    internal static void CheckQkv(Var query, Var key, Var value, bool causal, string who)
    {
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        ArgumentNullException.ThrowIfNull(value);
        if (query.Rank != 4) throw new ArgumentException($"{who}: expected query of shape (B, H, L, D), got {Tensor.FormatShape(query.Shape)}", nameof(query));
        int b = query.Dim(0), h = query.Dim(1), l = query.Dim(2), d = query.Dim(3);
        if (key.Rank != 4 || key.Dim(0) != b || key.Dim(1) != h || key.Dim(3) != d)
            throw new ArgumentException($"{who}: expected key of shape ({b}, {h}, S, {d}), got {Tensor.FormatShape(key.Shape)}", nameof(key));
        int s = key.Dim(2);
        if (value.Rank != 4 || value.Dim(0) != b || value.Dim(1) != h || value.Dim(2) != s)
            throw new ArgumentException($"{who}: expected value of shape ({b}, {h}, {s}, Dv), got {Tensor.FormatShape(value.Shape)}", nameof(value));
        if (l < 1 || s < 1 || d < 1 || value.Dim(3) < 1)
            throw new ArgumentException($"{who}: expected non-empty lengths and widths, got query {Tensor.FormatShape(query.Shape)}, key {Tensor.FormatShape(key.Shape)}, value {Tensor.FormatShape(value.Shape)}");
        if (causal && l != s)
            throw new ArgumentException($"{who}: causal attention expects as many queries as keys, got L = {l}, S = {s}", nameof(query));
    }

    /// <summary>Throws when <paramref name="x"/> holds NaN or ±∞, naming the first such element.</summary>
    internal static void CheckFinite(Var x, string name)
    {
        var span = x.Value.AsSpan();
        for (int i = 0; i < span.Length; i++)
            if (!float.IsFinite(span[i]))
                throw new ArgumentException($"expected finite values in {name} {Tensor.FormatShape(x.Shape)}, found {span[i]} at flat index {i}", name);
    }

    /// <summary>
    /// One decoding step with φ = elu + 1: adds (kₜ, vₜ) to <paramref name="state"/> and returns the output for qₜ.
    /// query and key (B, H, D), value (B, H, Dv) → (B, H, Dv). Equal to the causal <see cref="Forward"/> at position t.
    /// </summary>
    /// <exception cref="ArgumentException">A shape disagrees with the state, or an input holds NaN or ±∞.</exception>
    public static Var Step(LinearAttentionState state, Var query, Var key, Var value)
    {
        ArgumentNullException.ThrowIfNull(state);
        ArgumentNullException.ThrowIfNull(query);
        ArgumentNullException.ThrowIfNull(key);
        CheckFinite(query, nameof(query));
        CheckFinite(key, nameof(key));
        CheckFinite(value, nameof(value));
        return state.Step(FeatureMap(query), FeatureMap(key), value);
    }
}

/// <summary>
/// The recurrent state of causal linear attention for decoding (Katharopoulos et al., 2020, §3.4):
/// S = Σⱼ φ(kⱼ)·[vⱼ, 1]ᵀ, (B, H, F, Dv + 1); the last column is the normaliser z = Σⱼ φ(kⱼ).
/// Its size does not grow with the sequence, unlike a KV cache.
/// </summary>
public sealed class LinearAttentionState
{
    private Var? _state;

    /// <summary>An empty state for B × H heads with F features and Dv value widths.</summary>
    public LinearAttentionState(int batch, int heads, int featureDim, int valueDim, float epsilon = LinearAttention.DefaultEpsilon)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(batch);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(heads);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(featureDim);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(valueDim);
        if (!(epsilon >= 0) || !float.IsFinite(epsilon)) throw new ArgumentOutOfRangeException(nameof(epsilon), epsilon, "expected a finite ε ≥ 0");
        Batch = batch; Heads = heads; FeatureDim = featureDim; ValueDim = valueDim; Epsilon = epsilon;
    }

    public int Batch { get; }
    public int Heads { get; }
    /// <summary>F, the feature width (D for elu + 1).</summary>
    public int FeatureDim { get; }
    public int ValueDim { get; }
    public float Epsilon { get; }
    /// <summary>Tokens absorbed so far.</summary>
    public int Steps { get; private set; }
    /// <summary>S (B, H, F, Dv + 1), or null before the first step.</summary>
    public Var? Value => _state;
    /// <summary>Floats the state holds: B·H·F·(Dv + 1), whatever the number of steps.</summary>
    public long Floats => (long)Batch * Heads * FeatureDim * (ValueDim + 1);

    /// <summary>Forgets every token.</summary>
    public void Reset() { _state = null; Steps = 0; }

    /// <summary>
    /// One step on given features: phiQuery and phiKey (B, H, F), value (B, H, Dv) → output (B, H, Dv):
    /// S += φkₜ·[vₜ, 1]ᵀ, then oₜ = φqₜᵀ·S normalised.
    /// </summary>
    public Var Step(Var phiQuery, Var phiKey, Var value)
    {
        ArgumentNullException.ThrowIfNull(phiQuery);
        ArgumentNullException.ThrowIfNull(phiKey);
        ArgumentNullException.ThrowIfNull(value);
        Check(phiQuery, FeatureDim, nameof(phiQuery));
        Check(phiKey, FeatureDim, nameof(phiKey));
        Check(value, ValueDim, nameof(value));
        var v = Var.Concat([value, Var.Constant(Tensor.Ones(Batch, Heads, 1))], 2).Unsqueeze(2);   // (B, H, 1, Dv+1)
        var update = Var.MatMul(phiKey.Unsqueeze(2), v, transposeA: true);                           // (B, H, F, Dv+1)
        _state = _state is null ? update : _state + update;
        Steps++;
        var raw = Var.MatMul(phiQuery.Unsqueeze(2), _state).Squeeze(2);                              // (B, H, Dv+1)
        return raw.Slice(-1, 0, ValueDim) / (raw.Slice(-1, ValueDim, 1) + Epsilon);
    }

    private void Check(Var x, int width, string name)
    {
        if (x.Rank != 3 || x.Dim(0) != Batch || x.Dim(1) != Heads || x.Dim(2) != width)
            throw new ArgumentException($"expected {name} of shape ({Batch}, {Heads}, {width}), got {Tensor.FormatShape(x.Shape)}", name);
    }
}
