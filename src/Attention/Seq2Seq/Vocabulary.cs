namespace Attention.Seq2Seq;

/// <summary>
/// Symbol ↔ id table with four reserved ids: PAD = 0 (padding, ignored by the loss), BOS = 1 (the decoder's first
/// input), EOS = 2 (ends an output), UNK = 3 (a symbol outside the table). Symbols get ids from 4 in the order given.
/// </summary>
public sealed class Vocabulary
{
    /// <summary>Padding id.</summary>
    public const int Pad = 0;
    /// <summary>Begin-of-sequence id.</summary>
    public const int Bos = 1;
    /// <summary>End-of-sequence id.</summary>
    public const int Eos = 2;
    /// <summary>Unknown-symbol id.</summary>
    public const int Unk = 3;

    private readonly Dictionary<string, int> _ids = new(StringComparer.Ordinal);
    private readonly List<string> _symbols = ["<pad>", "<s>", "</s>", "<unk>"];

    /// <summary>Number of ids, reserved ones included.</summary>
    public int Count => _symbols.Count;

    /// <summary>All symbols by id.</summary>
    public IReadOnlyList<string> Symbols => _symbols;

    /// <summary>A table of <paramref name="symbols"/> (duplicates kept once, first occurrence wins).</summary>
    public Vocabulary(IEnumerable<string> symbols)
    {
        ArgumentNullException.ThrowIfNull(symbols);
        foreach (var s in symbols)
        {
            ArgumentException.ThrowIfNullOrEmpty(s, nameof(symbols));
            if (_ids.ContainsKey(s)) continue;
            _ids[s] = _symbols.Count;
            _symbols.Add(s);
        }
    }

    /// <summary>The id of <paramref name="symbol"/>, or <see cref="Unk"/>.</summary>
    public int Id(string symbol) => _ids.GetValueOrDefault(symbol, Unk);

    /// <summary>Ids of the symbols (no BOS/EOS added).</summary>
    public int[] Encode(IEnumerable<string> symbols) => symbols.Select(Id).ToArray();

    /// <summary>Symbols of the ids, stopping at the first EOS and skipping PAD and BOS.</summary>
    public string[] Decode(IEnumerable<int> ids)
    {
        var result = new List<string>();
        foreach (var id in ids)
        {
            if (id == Eos) break;
            if (id == Pad || id == Bos) continue;
            if ((uint)id >= (uint)Count) throw new ArgumentOutOfRangeException(nameof(ids), $"expected ids in [0, {Count}), got {id}");
            result.Add(_symbols[id]);
        }
        return result.ToArray();
    }
}
