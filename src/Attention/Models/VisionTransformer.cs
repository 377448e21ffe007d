using Attention.Autograd;
using Attention.Nn;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Models;

/// <summary>The shape of a <see cref="VisionTransformer"/>.</summary>
public sealed record VisionTransformerOptions
{
    /// <summary>Image side (square images); a multiple of <see cref="PatchSize"/>.</summary>
    public int ImageSize { get; init; } = 28;
    /// <summary>Patch side P.</summary>
    public int PatchSize { get; init; } = 4;
    /// <summary>Model width D.</summary>
    public int Dim { get; init; } = 32;
    /// <summary>Transformer blocks.</summary>
    public int Depth { get; init; } = 3;
    /// <summary>Heads per block (D must be a multiple).</summary>
    public int Heads { get; init; } = 4;
    /// <summary>MLP hidden width.</summary>
    public int MlpDim { get; init; } = 64;
    /// <summary>Classes.</summary>
    public int Classes { get; init; } = 10;
}

/// <summary>The logits and every block's attention probabilities (B, H, N+1, N+1), token 0 = [CLS].</summary>
public sealed record VisionTransformerOutput(Var Logits, IReadOnlyList<Tensor> Attention);

/// <summary>
/// Vision Transformer (Dosovitskiy et al., ICLR 2021) for single-channel images:
/// <code>
///   patches: the image cut into N = (S/P)² non-overlapping P×P patches, each flattened (P²) and projected: E x_p + b   (B, N, D)
///   tokens:  [x_class; E x_1; …; E x_N] + E_pos                                                                      (B, N+1, D)
///   blocks:  pre-LN Transformer encoder blocks (<see cref="TransformerBlock"/>, GELU MLP)
///   head:    Linear(LN(z_0)) on the [CLS] token                                                                      (B, classes)
/// </code>
/// [CLS] and the learned position embeddings start N(0, 0.02²). Patch n covers rows ⌊n / (S/P)⌋·P … and columns (n mod S/P)·P ….
/// </summary>
public sealed class VisionTransformer : Module, IImageClassifier
{
    private readonly TransformerBlock[] _blocks;

    /// <summary>The options it was built with.</summary>
    public VisionTransformerOptions Options { get; }
    /// <summary>Patches per side, S / P.</summary>
    public int GridSide { get; }
    /// <summary>Patch projection P² → D.</summary>
    public Linear PatchEmbedding { get; }
    /// <summary>[CLS] token (1, 1, D).</summary>
    public Var ClassToken { get; }
    /// <summary>Learned positions (1, N + 1, D).</summary>
    public Var Positions { get; }
    /// <summary>The encoder blocks.</summary>
    public IReadOnlyList<TransformerBlock> Blocks => _blocks;
    /// <summary>Final norm.</summary>
    public LayerNorm Norm { get; }
    /// <summary>Classifier head.</summary>
    public Linear Head { get; }

    /// <summary>Creates the model; weights from <paramref name="rng"/>.</summary>
    public VisionTransformer(VisionTransformerOptions options, Rng rng)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(rng);
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.PatchSize, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Depth, nameof(options));
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(options.Classes, nameof(options));
        if (options.ImageSize <= 0 || options.ImageSize % options.PatchSize != 0)
            throw new ArgumentException($"expected an image side that is a positive multiple of the patch side {options.PatchSize}, got {options.ImageSize}", nameof(options));
        Options = options;
        GridSide = options.ImageSize / options.PatchSize;
        int n = GridSide * GridSide, d = options.Dim;
        PatchEmbedding = RegisterModule("patch", new Linear(options.PatchSize * options.PatchSize, d, rng));
        ClassToken = RegisterParameter("cls", Var.Parameter(rng.NormalTensor([1, 1, d], 0f, 0.02f)));
        Positions = RegisterParameter("pos", Var.Parameter(rng.NormalTensor([1, n + 1, d], 0f, 0.02f)));
        _blocks = new TransformerBlock[options.Depth];
        for (int i = 0; i < options.Depth; i++)
            _blocks[i] = RegisterModule($"block{i}", new TransformerBlock(d, options.Heads, options.MlpDim, rng));
        Norm = RegisterModule("norm", new LayerNorm(d));
        Head = RegisterModule("head", new Linear(d, options.Classes, rng));
    }

    /// <summary>images (B, 1, S, S) → the flattened patches (B, N, P²), patch n row-major over the grid, pixels row-major inside it.</summary>
    public Var Patchify(Var images)
    {
        ArgumentNullException.ThrowIfNull(images);
        int s = Options.ImageSize, p = Options.PatchSize, g = GridSide;
        if (images.Rank != 4 || images.Shape[1] != 1 || images.Shape[2] != s || images.Shape[3] != s)
            throw new ArgumentException($"VisionTransformer expects images of shape (B, 1, {s}, {s}), got {Var.Fmt(images.Shape)}", nameof(images));
        int b = images.Shape[0];
        return images.Reshape(b, g, p, g, p).Permute(0, 1, 3, 2, 4).Reshape(b, g * g, p * p);
    }

    private Var Embed(Var images)
    {
        var patches = PatchEmbedding.Forward(Patchify(images));                       // (B, N, D)
        int b = patches.Shape[0], d = Options.Dim;
        var cls = ClassToken + Var.Constant(Tensor.Zeros(b, 1, d));                    // (B, 1, D)
        return Var.Concat([cls, patches], 1) + Positions;
    }

    private Var Classify(Var x) => Head.Forward(Norm.Forward(x.Slice(1, 0, 1).Reshape(x.Shape[0], Options.Dim)));

    /// <summary>images (B, 1, S, S) → logits (B, classes), on the fused attention path.</summary>
    public Var Forward(Var images)
    {
        var x = Embed(images);
        foreach (var block in _blocks) x = block.Forward(x);
        return Classify(x);
    }

    /// <summary>As <see cref="Forward"/> (the same function, on the composed path), and every block's attention probabilities.</summary>
    public VisionTransformerOutput ForwardWithAttention(Var images)
    {
        var x = Embed(images);
        var maps = new List<Tensor>();
        foreach (var block in _blocks)
        {
            // the pre-LN block written out, so the probabilities come back (TransformerBlock.Forward computes the same)
            var r = block.Attention.ForwardWithProbabilities(block.Ln1.Forward(x));
            maps.Add(r.Probabilities.Value);
            x = x + r.Output;
            x = x + block.Fc2.Forward(block.Fc1.Forward(block.Ln2.Forward(x)).Gelu());
        }
        return new VisionTransformerOutput(Classify(x), maps);
    }

    /// <summary>
    /// Mean attention distance (Dosovitskiy et al., 2021, Fig. 7): for each head, Σ_j a_ij · ‖centre_i − centre_j‖ in pixels,
    /// averaged over the patch queries i of every image, with a_ij the attention of patch i to patch j renormalised over the
    /// patches (the [CLS] key is left out). probabilities (B, H, N+1, N+1) → (H) distances.
    /// </summary>
    public static double[] MeanAttentionDistance(Tensor probabilities, int gridSide, int patchSize)
    {
        ArgumentNullException.ThrowIfNull(probabilities);
        int n = gridSide * gridSide;
        if (probabilities.Rank != 4 || probabilities.Dim(2) != n + 1 || probabilities.Dim(3) != n + 1)
            throw new ArgumentException($"expected probabilities (B, H, {n + 1}, {n + 1}) for a {gridSide}×{gridSide} grid, got {Tensor.FormatShape(probabilities.Shape)}", nameof(probabilities));
        int b = probabilities.Dim(0), h = probabilities.Dim(1), l = n + 1;
        var p = probabilities.Contiguous().AsSpan();
        var result = new double[h];
        for (int head = 0; head < h; head++)
        {
            double sum = 0;
            for (int img = 0; img < b; img++)
                for (int i = 0; i < n; i++)
                {
                    var row = p.Slice(((img * h + head) * l + i + 1) * l, l);
                    double mass = 0, dist = 0;
                    for (int j = 0; j < n; j++)
                    {
                        double a = row[j + 1];
                        mass += a;
                        double dr = i / gridSide - j / gridSide, dc = i % gridSide - j % gridSide;
                        dist += a * Math.Sqrt(dr * dr + dc * dc) * patchSize;
                    }
                    sum += mass > 0 ? dist / mass : 0;
                }
            result[head] = sum / (b * n);
        }
        return result;
    }
}
