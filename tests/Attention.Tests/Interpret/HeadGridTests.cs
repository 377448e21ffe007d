using Attention.Plots;
using SkiaSharp;

namespace Attention.Tests.Interpret;

public class HeadGridTests
{
    [Fact]
    public void HeadGrid_WritesAnImageLargeEnoughForEveryPanel_WithCellsAtTheTopOfTheScale_AndRejectsMismatchedTokens()
    {
        // every head puts all its weight on key 0, except layer 1 head 2, which looks at the previous token
        string[] tokens = ["[CLS]", "the", "cat", "sat", ".", "[SEP]"];
        int t = tokens.Length;
        var heads = new List<IReadOnlyList<float[,]>>();
        for (int l = 0; l < 2; l++)
        {
            var layer = new List<float[,]>();
            for (int h = 0; h < 3; h++)
            {
                var m = new float[t, t];
                for (int i = 0; i < t; i++) m[i, l == 1 && h == 2 ? Math.Max(0, i - 1) : 0] = 1;
                layer.Add(m);
            }
            heads.Add(layer);
        }
        var path = Path.Combine(Path.GetTempPath(), $"headgrid-{Guid.NewGuid():N}.png");
        HeadGrid.Write(path, heads, tokens, "test grid");
        using var bitmap = SKBitmap.Decode(path);
        Assert.NotNull(bitmap);
        Assert.True(bitmap.Width > 3 * 6 * 4 && bitmap.Height > 2 * 6 * 4, $"{bitmap.Width}×{bitmap.Height}");
        // viridis top (yellow: high red and green, low blue) appears: the weight-1 cells are drawn
        int yellow = 0;
        for (int y = 0; y < bitmap.Height; y++)
            for (int x = 0; x < bitmap.Width; x++)
            {
                var c = bitmap.GetPixel(x, y);
                if (c.Red > 200 && c.Green > 200 && c.Blue < 80) yellow++;
            }
        Assert.True(yellow > 0, "no cell at the top of the colour scale");
        File.Delete(path);
        Assert.Throws<ArgumentException>(() => HeadGrid.Write(path, heads, tokens[..3], "bad"));
    }
}
