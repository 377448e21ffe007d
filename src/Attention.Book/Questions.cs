namespace Attention.Book;

/// <summary>One of the 50 questions the book answers (from docs/questions.md).</summary>
public sealed record Question(int Number, string Title)
{
    /// <summary>"07" for question 7: the NN of the page file and the experiment class.</summary>
    public string Id => Number.ToString("00", System.Globalization.CultureInfo.InvariantCulture);
}

/// <summary>
/// The 50 questions, embedded so the book needs no file to list them. The text is that of
/// docs/questions.md; a test keeps the two in step.
/// </summary>
public static class Questions
{
    public const int Count = 50;

    public static IReadOnlyList<Question> All { get; } =
    [
        new(1, "Explain the fundamental concept of attention in neural networks."),
        new(2, "What problem does attention solve in sequence-to-sequence models?"),
        new(3, "Describe the original attention mechanism in Bahdanau et al."),
        new(4, "How does Luong attention differ from Bahdanau attention?"),
        new(5, "Explain the three main components of attention: Query, Key, Value."),
        new(6, "What is the difference between additive and multiplicative attention?"),
        new(7, "How do you compute attention weights (alignment scores)?"),
        new(8, "Describe the softmax normalization in attention mechanisms."),
        new(9, "What is the attention context vector and how is it computed?"),
        new(10, "Explain global vs local attention mechanisms."),
        new(11, "What is self-attention and how does it work?"),
        new(12, "How does multi-head attention improve upon single-head attention?"),
        new(13, "Describe the scaled dot-product attention formula."),
        new(14, "Why is scaling important in dot-product attention?"),
        new(15, "What are the computational complexities of different attention types?"),
        new(16, "Explain cross-attention in encoder-decoder architectures."),
        new(17, "How does attention help with the vanishing gradient problem?"),
        new(18, "What is the attention bottleneck and how to address it?"),
        new(19, "Describe sparse attention patterns and their benefits."),
        new(20, "What is window-based attention in long sequences?"),
        new(21, "Explain linear attention and its approximations."),
        new(22, "How do you visualize and interpret attention weights?"),
        new(23, "What are attention heatmaps and how to create them?"),
        new(24, "Describe attention mechanisms in computer vision."),
        new(25, "What is spatial attention and channel attention?"),
        new(26, "Explain the Squeeze-and-Excitation (SE) attention module."),
        new(27, "How does attention work in image captioning models?"),
        new(28, "What is hard vs soft attention?"),
        new(29, "Describe attention mechanisms in speech recognition."),
        new(30, "How do you implement attention in recurrent models?"),
        new(31, "What is the coverage mechanism in attention?"),
        new(32, "How does attention help with alignment in translation?"),
        new(33, "Explain attention regularization techniques."),
        new(34, "What is attention dropout and when to use it?"),
        new(35, "How do you handle attention for variable-length sequences?"),
        new(36, "Describe masked attention in causal language models."),
        new(37, "What are the memory requirements for attention computation?"),
        new(38, "How do you optimize attention computation for efficiency?"),
        new(39, "Explain flash attention and memory-efficient implementations."),
        new(40, "What is the attention mechanism in Graph Neural Networks?"),
        new(41, "How does attention work in recommendation systems?"),
        new(42, "Describe hierarchical attention mechanisms."),
        new(43, "What is co-attention and when is it useful?"),
        new(44, "How do you implement position-aware attention?"),
        new(45, "Explain relative position encoding in attention."),
        new(46, "What are the limitations of attention mechanisms?"),
        new(47, "How does attention relate to human cognitive attention?"),
        new(48, "Describe recent advances in attention research."),
        new(49, "What are alternatives to attention for sequence modeling?"),
        new(50, "How do you debug and improve attention model performance?"),
    ];

    /// <summary>Question <paramref name="number"/> (1..50).</summary>
    public static Question Get(int number)
    {
        if (number is < 1 or > Count)
            throw new ArgumentOutOfRangeException(nameof(number), number, $"Question number must be 1..{Count}; got {number}.");
        return All[number - 1];
    }
}
