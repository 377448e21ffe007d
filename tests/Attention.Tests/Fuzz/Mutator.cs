using System.Buffers.Binary;
using System.Text;
using Attention.Tensors;

namespace Attention.Tests.Fuzz;

/// <summary>
/// Seeded mutations of a valid file, the kinds a damaged download or a hostile author produces: truncation, byte
/// and bit flips, inserted, deleted and repeated runs, huge or negative integers written over binary fields, numbers
/// in text replaced by huge, negative, fractional or non-finite ones, format words swapped (dtypes, True/False),
/// JSON punctuation removed, invalid UTF-8 and escaped lone surrogates inserted, a byte-order mark prepended, and
/// runs of 0xFF that turn a protobuf length into a huge varint. One to three mutations per case.
/// </summary>
internal static class Mutator
{
    private static readonly ulong[] Integers =
        [0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1UL << 32, 1UL << 40,
         0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ulong.MaxValue, ulong.MaxValue - 7];

    private static readonly string[] Numbers =
        ["0", "1", "-1", "2.0", "1e3", "1e-40", "NaN", "Infinity", "-Infinity", "abc", "", "2147483647", "2147483648",
         "4294967296", "9223372036854775807", "99999999999999999999999", "-2147483648", "46340", "536870911", "0x10", "+3", " 7"];

    private static readonly (string From, string[] To)[] Words =
    [
        ("<f4", ["<f8", "<i4", ">f4", "|u1", "<f2", "", "<f4<f4"]),
        ("False", ["True", "false", "0", "None"]),
        ("F32", ["F16", "BF16", "F64", "I64", "U8", "f32", "", "BOOL"]),
        ("shape", ["shap", "Shape", "descr"]),
        ("dtype", ["dtyp", "DTYPE"]),
        ("data_offsets", ["data_offset", "offsets"]),
        ("__metadata__", ["__meta__", "__metadata__\": {}, \"x"]),
        ("num_attention_heads", ["num_attention_head", "num_hidden_layers"]),
        ("layer_norm_eps", ["layer_norm_ep", "hidden_size"]),
        ("[PAD]", ["[PAD", "PAD", ""]),
        ("[SEP]", ["[CLS]", ""]),
        ("\t", [" ", "\t\t", ""]),
        ("AH0", ["AH", "AH3", "ah0", "AH0 "]),
        ("\n", ["\r\n", "\r", "\n\n", ""]),
        ("embeddings", ["embedding", "encoder.layer.7"]),
        ("encoder.layer.0", ["encoder.layer.1", "encoder.layer.00", "encoder.layer.-1"]),
        ("MatMul", ["Sqrt", "Add", "Concat"]),
    ];

    private static readonly byte[][] BadUtf8 =
        [[0xFF], [0xC3, 0x28], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82],
         "\\ud800"u8.ToArray(), "\\udfff\\ud800"u8.ToArray(), [0xEF, 0xBB, 0xBF]];

    /// <summary>One case: the mutated bytes and a description of what was done (for the failure report).</summary>
    public static (byte[] Bytes, string What) Mutate(byte[] original, Rng rng)
    {
        var bytes = original.ToList();
        var what = new List<string>();
        int count = 1 + (rng.NextInt(4) == 0 ? 1 + rng.NextInt(2) : 0);
        for (int m = 0; m < count; m++) what.Add(MutateOnce(bytes, rng));
        return (bytes.ToArray(), string.Join("; ", what));
    }

    private static string MutateOnce(List<byte> b, Rng rng)
    {
        int Pos(int extra = 0) => rng.NextInt(Math.Max(1, b.Count + extra));
        switch (rng.NextInt(13))
        {
            case 0:
            {
                int cut = Pos(1);
                b.RemoveRange(cut, b.Count - cut);
                return $"truncate to {cut}";
            }
            case 1:
            {
                if (b.Count == 0) return "nothing";
                int n = 1 + rng.NextInt(4);
                var at = new List<int>();
                for (int i = 0; i < n; i++) { int p = Pos(); at.Add(p); b[p] = (byte)rng.NextInt(256); }
                return $"set bytes at {string.Join(",", at)}";
            }
            case 2:
            {
                if (b.Count == 0) return "nothing";
                int p = Pos(), bit = rng.NextInt(8);
                b[p] ^= (byte)(1 << bit);
                return $"flip bit {bit} of byte {p}";
            }
            case 3:
            {
                int p = Pos(1), n = 1 + rng.NextInt(16);
                for (int i = 0; i < n; i++) b.Insert(p, (byte)rng.NextInt(256));
                return $"insert {n} random bytes at {p}";
            }
            case 4:
            {
                if (b.Count == 0) return "nothing";
                int p = Pos(), n = Math.Min(b.Count - p, 1 + rng.NextInt(32));
                b.RemoveRange(p, n);
                return $"delete {n} bytes at {p}";
            }
            case 5:
            {
                if (b.Count == 0) return "nothing";
                int p = Pos(), n = Math.Min(b.Count - p, 1 + rng.NextInt(64)), times = 1 + rng.NextInt(3);
                var run = b.GetRange(p, n);
                for (int t = 0; t < times; t++) b.InsertRange(p, run);
                return $"repeat {n} bytes at {p} {times} more time(s)";
            }
            case 6:
            {
                int width = new[] { 1, 2, 4, 8 }[rng.NextInt(4)];
                if (b.Count < width) return "nothing";
                int p = rng.NextInt(b.Count - width + 1);
                ulong v = Integers[rng.NextInt(Integers.Length)];
                Span<byte> le = stackalloc byte[8];
                BinaryPrimitives.WriteUInt64LittleEndian(le, v);
                for (int i = 0; i < width; i++) b[p + i] = le[i];
                return $"write {v:X} as {width} bytes at {p}";
            }
            case 7:
            {
                // a run of ASCII digits (maybe with a sign, point or exponent) replaced by another number
                var runs = new List<(int Start, int Length)>();
                for (int i = 0; i < b.Count;)
                {
                    if (b[i] is >= (byte)'0' and <= (byte)'9')
                    {
                        int s = i;
                        while (i < b.Count && (b[i] is >= (byte)'0' and <= (byte)'9' or (byte)'.' or (byte)'e' or (byte)'-')) i++;
                        runs.Add((s, i - s));
                    }
                    else i++;
                }
                if (runs.Count == 0) goto case 1;
                var (start, length) = runs[rng.NextInt(runs.Count)];
                var number = Numbers[rng.NextInt(Numbers.Length)];
                b.RemoveRange(start, length);
                b.InsertRange(start, Encoding.ASCII.GetBytes(number));
                return $"number at {start} → \"{number}\"";
            }
            case 8:
            {
                var candidates = Words.Where(w => IndexOf(b, w.From) >= 0).ToArray();
                if (candidates.Length == 0) goto case 2;
                var (from, to) = candidates[rng.NextInt(candidates.Length)];
                var replacement = to[rng.NextInt(to.Length)];
                var hits = AllIndexes(b, from);
                int at = hits[rng.NextInt(hits.Count)];
                b.RemoveRange(at, Encoding.UTF8.GetByteCount(from));
                b.InsertRange(at, Encoding.UTF8.GetBytes(replacement));
                return $"word at {at}: \"{Escape(from)}\" → \"{Escape(replacement)}\"";
            }
            case 9:
            {
                // remove or double one JSON/dict punctuation character
                var marks = new List<int>();
                for (int i = 0; i < b.Count; i++) if (b[i] is (byte)'{' or (byte)'}' or (byte)'[' or (byte)']' or (byte)':' or (byte)',' or (byte)'"' or (byte)'\'' or (byte)'(' or (byte)')') marks.Add(i);
                if (marks.Count == 0) goto case 3;
                int p = marks[rng.NextInt(marks.Count)];
                if (rng.NextInt(2) == 0) { byte c = b[p]; b.RemoveAt(p); return $"remove '{(char)c}' at {p}"; }
                b.Insert(p, b[p]);
                return $"double '{(char)b[p]}' at {p}";
            }
            case 10:
            {
                var bad = BadUtf8[rng.NextInt(BadUtf8.Length)];
                int p = rng.NextInt(4) == 0 ? 0 : Pos(1);
                b.InsertRange(p, bad);
                return $"insert {Convert.ToHexString(bad)} at {p}";
            }
            case 11:
            {
                // 0xFF bytes make any varint they start huge (and a length past the end)
                if (b.Count == 0) return "nothing";
                int p = Pos(), n = Math.Min(b.Count - p, 1 + rng.NextInt(9));
                for (int i = 0; i < n; i++) b[p + i] = 0xFF;
                if (p + n < b.Count) b[p + n] = (byte)rng.NextInt(0x80);
                return $"{n} × 0xFF at {p}";
            }
            default:
            {
                // swap two chunks: order-sensitive formats (sorted words, offsets) must notice
                if (b.Count < 4) return "nothing";
                int n = 1 + rng.NextInt(Math.Min(32, b.Count / 2));
                int p = rng.NextInt(b.Count - n + 1), q = rng.NextInt(b.Count - n + 1);
                var x = b.GetRange(p, n); var y = b.GetRange(q, n);
                for (int i = 0; i < n; i++) { b[p + i] = y[i]; }
                for (int i = 0; i < n; i++) { b[q + i] = x[i]; }
                return $"swap {n} bytes at {p} and {q}";
            }
        }
    }

    private static int IndexOf(List<byte> b, string word) => AllIndexes(b, word, first: true) is [var i, ..] ? i : -1;

    private static List<int> AllIndexes(List<byte> b, string word, bool first = false)
    {
        var pattern = Encoding.UTF8.GetBytes(word);
        var result = new List<int>();
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(b);
        for (int from = 0; from <= span.Length - pattern.Length;)
        {
            int i = span[from..].IndexOf(pattern);
            if (i < 0) break;
            result.Add(from + i);
            if (first) break;
            from += i + 1;
        }
        return result;
    }

    private static string Escape(string s) => s.Replace("\n", "\\n").Replace("\r", "\\r").Replace("\t", "\\t");
}
