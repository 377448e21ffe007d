using Attention.Data;
using Attention.Interpret;

namespace Attention.Tests.Interpret;

public class VisionProbesTests
{
    [Fact]
    public void BetweenClassShare_IsOneForClassConstantGates_ZeroForClassFreeOnes_AndMatchesAHandSum()
    {
        int[] labels = [0, 0, 1, 1];
        Assert.Equal(1.0, VisionProbes.BetweenClassShare([0.2f, 0.2f, 0.8f, 0.8f], labels, 1), 9);
        Assert.Equal(0.0, VisionProbes.BetweenClassShare([0.2f, 0.8f, 0.2f, 0.8f], labels, 1), 9);
        // one channel: values 0, 2 | 4, 10: mean 4, total var (16 + 4 + 0 + 36)/4 = 14; class means 1, 7: between (9 + 9)/2 = 9
        Assert.Equal(9.0 / 14, VisionProbes.BetweenClassShare([0f, 2f, 4f, 10f], labels, 1), 6);
        Assert.Equal(0.0, VisionProbes.BetweenClassShare([1f, 1f, 1f, 1f], labels, 1));   // constant gates: nothing class-specific
        // across-image spread: channel 0 constant, channel 1 alternates 0 / 1 (sd 0.5): mean over channels 0.25
        Assert.Equal(0.25, VisionProbes.AcrossImageSpread([0.3f, 0f, 0.3f, 1f, 0.3f, 0f, 0.3f, 1f], 4, 2), 6);
        Assert.Throws<ArgumentException>(() => VisionProbes.BetweenClassShare([1f, 1f, 1f], labels, 1));
    }

    [Fact]
    public void MassInBox_IsTheAreaShareForAUniformMap_AndCountsCoarseCellsByTheirPixels()
    {
        var box = new PixelBox(2, 2, 6, 4);   // 4 rows × 2 columns of an 8×8 canvas
        var uniform = Enumerable.Repeat(1f, 16).ToArray();
        Assert.Equal(8.0 / 64, VisionProbes.MassInBox(uniform, 4, 4, box, 8), 9);
        var one = new float[16];
        one[1 * 4 + 1] = 1f;   // cell (1, 1) covers canvas rows 2..3, columns 2..3: all inside
        Assert.Equal(1.0, VisionProbes.MassInBox(one, 4, 4, box, 8), 9);
        var corner = new float[16];
        corner[0] = 1f;
        Assert.Equal(0.0, VisionProbes.MassInBox(corner, 4, 4, box, 8), 9);
        Assert.Throws<ArgumentException>(() => VisionProbes.MassInBox(uniform, 3, 3, box, 8));
    }
}
