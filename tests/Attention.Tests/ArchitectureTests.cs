using System.Text.RegularExpressions;
using System.Xml.Linq;
using Attention.Book;

namespace Attention.Tests;

/// <summary>
/// The library's floor plan, enforced: every namespace of <c>src/Attention</c> sits on a floor, and a file may use
/// its own floor and the floors below, never one above (the README's "Floor plan" lists the same floors). Data flows
/// one way: tensors → kernels → autograd → layers → sequence models → models → interpretation.
/// </summary>
public partial class ArchitectureTests
{
    /// <summary>The floors, lowest first. A namespace missing here fails the test: a new one must be given a floor.</summary>
    public static readonly IReadOnlyDictionary<string, int> Floors = new Dictionary<string, int>
    {
        ["Tensors"] = 0,
        ["Kernels"] = 1,
        ["Onnx"] = 2, ["Autograd"] = 2, ["Data"] = 2,
        ["Nn"] = 3, ["Positions"] = 3, ["Mechanisms"] = 3, ["Alternatives"] = 3,
        ["Seq2Seq"] = 4,
        ["Models"] = 5,
        ["Interpret"] = 6, ["Alignments"] = 6,
    };

    private static readonly string Library = Path.Combine(RepoPaths.FindRoot(), "src", "Attention");

    [GeneratedRegex(@"^namespace\s+Attention\.(\w+)", RegexOptions.Multiline)]
    private static partial Regex NamespaceLine();

    // a using directive or a qualified name: "using Attention.Nn;", "Attention.Kernels.FlashAttention.Forward(...)"
    [GeneratedRegex(@"\bAttention\.(\w+)\b")]
    private static partial Regex Reference();

    private static IEnumerable<string> LibraryFiles() =>
        Directory.EnumerateFiles(Library, "*.cs", SearchOption.AllDirectories)
            .Where(f => !f.Contains($"{Path.DirectorySeparatorChar}obj{Path.DirectorySeparatorChar}") &&
                        !f.Contains($"{Path.DirectorySeparatorChar}bin{Path.DirectorySeparatorChar}"));

    /// <summary>Code only: comments and string literals may name any floor (doc comments cite answers and models).</summary>
    private static string CodeOf(string text)
    {
        var lines = text.Split('\n').Select(l =>
        {
            int c = l.IndexOf("//", StringComparison.Ordinal);
            return c >= 0 ? l[..c] : l;
        });
        return Regex.Replace(string.Join('\n', lines), "\"(?:[^\"\\\\\\n]|\\\\.)*\"", "\"\"");
    }

    [Fact]
    public void EveryLibraryFile_UsesOnlyItsFloorAndTheFloorsBelow()
    {
        var violations = new List<string>();
        int files = 0;
        foreach (var file in LibraryFiles())
        {
            var text = File.ReadAllText(file);
            var ns = NamespaceLine().Match(text);
            string name = Path.GetRelativePath(Library, file);
            if (!ns.Success) { violations.Add($"{name}: no 'namespace Attention.X' line"); continue; }
            files++;
            string own = ns.Groups[1].Value;
            if (!Floors.TryGetValue(own, out int floor)) { violations.Add($"{name}: namespace Attention.{own} has no floor"); continue; }
            foreach (Match m in Reference().Matches(CodeOf(text)))
            {
                string used = m.Groups[1].Value;
                if (used == own || !Floors.TryGetValue(used, out int usedFloor)) continue;   // types of the root, e.g. Attention.Tensors.Tensor aliases
                if (usedFloor > floor)
                    violations.Add($"{name} (Attention.{own}, floor {floor}) uses Attention.{used} (floor {usedFloor})");
            }
        }
        Assert.True(files > 100, $"expected the library's source files under {Library}, found {files}");
        Assert.True(violations.Count == 0, "references to a higher floor:\n" + string.Join('\n', violations.Distinct()));
    }

    [Fact]
    public void TheFloorCheck_CatchesAnUpwardReference()
    {
        // the check itself, on a made-up file: Kernels (floor 1) reaching up to Nn (floor 3)
        var code = CodeOf("using Attention.Tensors;\n// Attention.Models in a comment is fine\nnamespace Attention.Kernels;\nclass X { Attention.Nn.Linear? l; string s = \"Attention.Models\"; }");
        var used = Reference().Matches(code).Select(m => m.Groups[1].Value).ToList();
        Assert.Contains("Nn", used);
        Assert.Contains("Tensors", used);
        Assert.DoesNotContain("Models", used);
        Assert.True(Floors["Nn"] > Floors["Kernels"]);
    }

    [Fact]
    public void TheLibraryPackage_DependsOnSystemNumericsTensorsOnly()
    {
        var project = XDocument.Load(Path.Combine(Library, "Attention.csproj"));
        var packages = project.Descendants("PackageReference").Select(e => (string?)e.Attribute("Include")).ToList();
        Assert.Equal(["System.Numerics.Tensors"], packages);
        Assert.Empty(project.Descendants("ProjectReference"));
    }
}
