namespace Attention.Bench;

/// <summary>Entry points that land with later work (the backward benchmark comes with issue 3).</summary>
internal static class BenchExtras
{
    public static int RunBackward(string[] args)
    {
        Console.Error.WriteLine("the backward benchmark is not in this build yet (issue 3)");
        return 2;
    }
}
