namespace Attention.Positions;

/// <summary>
/// NoPE: no position information at all (Kazemnejad et al., 2023, "The Impact of Positional Encoding on
/// Length Generalization in Transformers"). Self-attention without positions is permutation-equivariant,
/// so a bidirectional encoder cannot tell word order; a causal decoder still can, because the mask makes
/// position i see exactly i + 1 keys (it can count, e.g. through how diluted a uniform average is).
/// Every hook is the identity and the fused kernel is used.
/// </summary>
public sealed class NoPositions : PositionScheme
{
    public override string Name => "NoPE";
}
