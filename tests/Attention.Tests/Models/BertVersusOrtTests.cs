using Attention.Models;
using Attention.Peers;

namespace Attention.Tests.Models;

/// <summary>
/// all-MiniLM-L6-v2 run by our encoder against ONNX Runtime on the same ONNX file: hidden states of real tokens,
/// pooled embeddings (mean over the mask of ORT's last_hidden_state, then L2) and all 6 × 12 heads' probabilities.
/// </summary>
public class BertVersusOrtTests
{
    private const float Tolerance = 1e-4f;

    // mixed lengths (padding), punctuation, numbers, accents, CJK, emoji, symbols, tabs and newlines
    private static readonly string[] Sentences =
    [
        "The quick brown fox jumps over the lazy dog.",
        "Hi!",
        "In 2019, revenue grew by 12.5% to $3,400,000 (unaudited).",
        "Zoë's café served crème brûlée — naïve but délicieux.",
        "東京は日本の首都です。",
        "a<b && c>=d | e ~ f ^ g `h` + 1 = 2",
        "tabs\tand\nnewlines\r\nsplit words 🙂",
        "Attention is all you need; or is it?",
    ];

    private static readonly Lazy<OrtBert> Peer = new(() => new OrtBert(MiniLm.OnnxBytes(), threads: 2, withAttention: true));

    [Fact]
    public void MiniLm_Config_IsSixLayersOfTwelveHeadsOf32()
    {
        var c = BertModel.LoadMiniLm().Config;
        Assert.Equal((6, 12, 32, 384, 1536, 512, 30522), (c.Layers, c.Heads, c.HeadDim, c.Hidden, c.Intermediate, c.MaxPositions, c.VocabSize));
        Assert.Equal(1e-12f, c.LayerNormEps);
    }

    [Fact]
    public void HiddenStates_Embeddings_AndAll72Heads_MatchOrt_OnAPaddedMixedBatch()
    {
        var model = BertModel.LoadMiniLm();
        var batch = model.Tokenize(Sentences);
        Assert.True(batch.Lengths.Distinct().Count() > 4, "the batch should mix lengths");
        var (hidden, attention) = Peer.Value.Run(batch);
        var ours = model.Forward(batch, new BertRunOptions { RecordAttention = true });
        var fast = model.Forward(batch);
        int t = batch.Length, hd = model.Config.Hidden;

        foreach (var output in new[] { ours, fast })
        {
            var h = output.LastHiddenState.ToArray();
            Assert.Equal(hidden.Length, h.Length);
            double worst = 0;
            for (int b = 0; b < batch.Batch; b++)
                for (int i = 0; i < batch.Lengths[b] * hd; i++)
                    worst = Math.Max(worst, Math.Abs(h[b * t * hd + i] - hidden[b * t * hd + i]));
            Assert.True(worst <= Tolerance, $"last_hidden_state (real tokens) max abs diff {worst:E2}");

            var expected = PoolAndNormalise(hidden, batch, hd);
            var e = output.Embeddings.ToArray();
            double worstE = e.Zip(expected).Max(p => Math.Abs(p.First - p.Second));
            Assert.True(worstE <= Tolerance, $"pooled embeddings max abs diff {worstE:E2}");
        }

        Assert.Equal(6, attention.Length);
        for (int l = 0; l < 6; l++)
        {
            var p = ours.Attention![l].ToArray();
            Assert.Equal(new[] { batch.Batch, 12, t, t }, ours.Attention[l].Shape.ToArray());
            double worst = 0;
            for (int b = 0; b < batch.Batch; b++)
                for (int h = 0; h < 12; h++)
                    for (int i = 0; i < batch.Lengths[b]; i++)
                        for (int j = 0; j < t; j++)
                        {
                            int at = ((b * 12 + h) * t + i) * t + j;
                            worst = Math.Max(worst, Math.Abs(p[at] - attention[l][at]));
                        }
            Assert.True(worst <= Tolerance, $"layer {l} attention max abs diff {worst:E2}");
        }
    }

    [Fact]
    public void EachSentenceAlone_GivesTheSameEmbeddingAsInThePaddedBatch()
    {
        var model = BertModel.LoadMiniLm();
        var together = model.Embed(Sentences);
        for (int i = 0; i < Sentences.Length; i += 3)
        {
            var alone = model.Embed([Sentences[i]])[0];
            Assert.True(alone.Zip(together[i]).Max(p => Math.Abs(p.First - p.Second)) < 1e-5, $"sentence {i}");
        }
    }

    [Fact]
    public void Embeddings_AreUnitVectors_AndParaphrasesAreCloserThanUnrelatedSentences()
    {
        var e = BertModel.LoadMiniLm().Embed(["A man is playing a guitar.", "Someone plays the guitar.", "The stock market fell sharply today."]);
        foreach (var v in e) Assert.Equal(1.0, Math.Sqrt(v.Sum(x => (double)x * x)), 5);
        double Cos(float[] a, float[] b) => a.Zip(b).Sum(p => (double)p.First * p.Second);
        Assert.True(Cos(e[0], e[1]) > Cos(e[0], e[2]) + 0.3, $"paraphrase {Cos(e[0], e[1]):F3} vs unrelated {Cos(e[0], e[2]):F3}");
    }

    internal static float[] PoolAndNormalise(float[] hidden, BertBatch batch, int hd)
    {
        int t = batch.Length;
        var result = new float[batch.Batch * hd];
        for (int b = 0; b < batch.Batch; b++)
        {
            var sum = new double[hd];
            for (int i = 0; i < batch.Lengths[b]; i++)
                for (int k = 0; k < hd; k++) sum[k] += hidden[(b * t + i) * hd + k];
            double norm = Math.Sqrt(sum.Sum(x => x * x));
            for (int k = 0; k < hd; k++) result[b * hd + k] = (float)(sum[k] / norm);
        }
        return result;
    }
}
