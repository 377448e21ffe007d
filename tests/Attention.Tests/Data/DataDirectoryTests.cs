using Attention.Data;

namespace Attention.Tests.Data;

/// <summary>The one way datasets are found: explicit setting → ATTN_DATA → data/ beside the application → a data/ folder above.</summary>
public class DataDirectoryTests
{
    [Fact]
    public void TheBuild_CopiesTheDatasetsBesideTheApplication_AndFindTakesThatCopy()
    {
        foreach (var file in new[] { CmuDict.DataRelativePath, Kjv.DataRelativePath, Mnist.DataRelativePath, SpokenDigits.DataRelativePath, "graphs/karate-nodes.tsv", "sentences/pairs.tsv" })
            Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, "data", file)), $"data/{file} beside the test host");
        if (Environment.GetEnvironmentVariable(DataDirectory.EnvironmentVariable) is null)
            Assert.Equal(Path.Combine(AppContext.BaseDirectory, "data", CmuDict.DataRelativePath), DataDirectory.Find(CmuDict.DataRelativePath));
    }

    [Fact]
    public void AnExplicitFolder_WinsForTheFilesItHolds_AndOthersFallThrough()
    {
        var folder = Directory.CreateTempSubdirectory("attn-data");
        try
        {
            Directory.CreateDirectory(Path.Combine(folder.FullName, "mine"));
            File.WriteAllText(Path.Combine(folder.FullName, "mine", "only-here.txt"), "x");
            DataDirectory.Explicit = folder.FullName;
            Assert.Equal(Path.Combine(folder.FullName, "mine", "only-here.txt"), DataDirectory.Find("mine/only-here.txt"));
            // the explicit folder lacks the dictionary: the next place in the order answers
            Assert.StartsWith(AppContext.BaseDirectory, DataDirectory.Find(CmuDict.DataRelativePath));
        }
        finally
        {
            DataDirectory.Explicit = null;
            folder.Delete(recursive: true);
        }
    }

    [Fact]
    public void NothingFound_ListsEveryPlaceSearched_AndHowToFixIt()
    {
        var outside = Directory.CreateTempSubdirectory("no-data");
        try
        {
            var e = Assert.Throws<FileNotFoundException>(() => DataDirectory.Find("cmudict/no-such-file.gz", outside.FullName));
            Assert.Contains("ATTN_DATA", e.Message);
            Assert.Contains(outside.FullName, e.Message);
            Assert.Contains("every folder above it", e.Message);
            Assert.DoesNotContain("slnx", e.Message);     // the library knows data folders, not the repository
        }
        finally { outside.Delete(); }
    }

    [Fact]
    public void BadArguments_ThrowNamingWhatWasExpected()
    {
        Assert.Contains("relative", Assert.Throws<ArgumentException>(() => DataDirectory.Find(Path.GetFullPath("x.txt"))).Message);
        Assert.Throws<ArgumentException>(() => DataDirectory.Find(" "));
        Assert.Contains("existing data folder", Assert.Throws<DirectoryNotFoundException>(() => DataDirectory.Explicit = "/no/such/attn-data").Message);
    }
}
