using Attention.Autograd;
using Attention.Tensors;
using Tensor = Attention.Tensors.Tensor;

namespace Attention.Nn;

/// <summary>
/// Base of every layer (the shape of torch.nn.Module): a module owns named parameters and named
/// submodules, and a train/eval flag that layers such as <see cref="Dropout"/> read.
/// Parameter names are dotted paths in registration order, stable across runs, e.g.
/// "blocks.0.attn.q.weight", so they can key a weights file.
/// Subclasses register everything in their constructor with <see cref="RegisterParameter"/> and
/// <see cref="RegisterModule{T}"/>; registration order is the order of <see cref="Parameters"/>.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Var Value)> _parameters = [];
    private readonly List<(string Name, Module Value)> _modules = [];

    /// <summary>True in training mode (the default), false after <see cref="Eval"/>.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Registers a trainable leaf under <paramref name="name"/> (no dots) and returns it.</summary>
    /// <exception cref="ArgumentException">The name is empty, contains a dot, is taken, or the value is not a parameter.</exception>
    protected internal Var RegisterParameter(string name, Var parameter)
    {
        ArgumentNullException.ThrowIfNull(parameter);
        CheckName(name);
        if (!parameter.IsLeaf || !parameter.RequiresGrad)
            throw new ArgumentException($"expected a parameter (a leaf that requires grad) for '{name}', got {parameter}", nameof(parameter));
        parameter.Name ??= name;
        _parameters.Add((name, parameter));
        return parameter;
    }

    /// <summary>Registers a submodule under <paramref name="name"/> (no dots) and returns it.</summary>
    protected internal T RegisterModule<T>(string name, T module) where T : Module
    {
        ArgumentNullException.ThrowIfNull(module);
        CheckName(name);
        if (ReferenceEquals(module, this)) throw new ArgumentException($"a module cannot contain itself (name '{name}')", nameof(module));
        _modules.Add((name, module));
        return module;
    }

    private void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.'))
            throw new ArgumentException($"expected a non-empty name without dots, got '{name}'", nameof(name));
        if (_parameters.Any(p => p.Name == name) || _modules.Any(m => m.Name == name))
            throw new ArgumentException($"the name '{name}' is already registered in {GetType().Name}", nameof(name));
    }

    /// <summary>Direct submodules with their names, in registration order.</summary>
    public IEnumerable<(string Name, Module Module)> Children() => _modules.Select(m => (m.Name, m.Value));

    /// <summary>All parameters, this module's first and then each submodule's (depth first), with dotted names.
    /// A parameter shared by two modules appears once, under its first name.</summary>
    public IEnumerable<(string Name, Var Parameter)> NamedParameters()
    {
        var seen = new HashSet<Var>(ReferenceEqualityComparer.Instance);
        foreach (var (name, p) in Walk(""))
            if (seen.Add(p)) yield return (name, p);
    }

    private IEnumerable<(string, Var)> Walk(string prefix)
    {
        foreach (var (name, p) in _parameters) yield return (prefix + name, p);
        foreach (var (name, m) in _modules)
            foreach (var item in m.Walk(prefix + name + ".")) yield return item;
    }

    /// <summary>The parameters of <see cref="NamedParameters"/> without names (what an optimizer takes).</summary>
    public IReadOnlyList<Var> Parameters() => NamedParameters().Select(p => p.Parameter).ToList();

    /// <summary>Total number of scalar parameters.</summary>
    public long ParameterCount => NamedParameters().Sum(p => (long)p.Parameter.Length);

    /// <summary>Sets training mode on this module and every submodule; returns this.</summary>
    public Module Train(bool training = true)
    {
        Training = training;
        foreach (var (_, m) in _modules) m.Train(training);
        return this;
    }

    /// <summary>Evaluation mode (dropout off) on this module and every submodule; returns this.</summary>
    public Module Eval() => Train(false);

    /// <summary>Drops every parameter's gradient.</summary>
    public void ZeroGrad()
    {
        foreach (var (_, p) in NamedParameters()) p.ZeroGrad();
    }

    /// <summary>Parameter values by dotted name (the tensors themselves, not copies): what a weights file stores.</summary>
    public Dictionary<string, Tensor> StateDict() => NamedParameters().ToDictionary(p => p.Name, p => p.Parameter.Value);

    /// <summary>
    /// Copies tensors into the parameters of the same dotted name. Strict (the default): every parameter
    /// must be present and no extra name may appear. Shapes must match exactly.
    /// </summary>
    /// <exception cref="ArgumentException">A missing or unexpected name (strict), or a shape mismatch; nothing is copied then.</exception>
    public void LoadStateDict(IReadOnlyDictionary<string, Tensor> state, bool strict = true)
    {
        ArgumentNullException.ThrowIfNull(state);
        var mine = NamedParameters().ToList();
        if (strict)
        {
            var missing = mine.Select(p => p.Name).Where(n => !state.ContainsKey(n)).ToList();
            var extra = state.Keys.Where(k => mine.All(p => p.Name != k)).ToList();
            if (missing.Count > 0 || extra.Count > 0)
                throw new ArgumentException($"state does not match {GetType().Name}: missing [{string.Join(", ", missing)}], unexpected [{string.Join(", ", extra)}]", nameof(state));
        }
        foreach (var (name, p) in mine)
            if (state.TryGetValue(name, out var t) && !t.Shape.SequenceEqual(p.Shape))
                throw new ArgumentException($"parameter '{name}': expected shape {Tensor.FormatShape(p.Shape)}, got {Tensor.FormatShape(t.Shape)}", nameof(state));
        foreach (var (name, p) in mine)
            if (state.TryGetValue(name, out var t)) t.CopyTo(p.Value.AsSpan());
    }

    /// <summary>Writes the parameters to a safetensors file (names as <see cref="NamedParameters"/>).</summary>
    public void Save(string path, IReadOnlyDictionary<string, string>? metadata = null) => Safetensors.Write(path, StateDict(), metadata);

    /// <summary>Loads parameters from a safetensors file written by <see cref="Save"/> (or any with the same names).</summary>
    /// <exception cref="InvalidDataException">The file is corrupt.</exception>
    /// <exception cref="ArgumentException">Names or shapes do not match this module.</exception>
    public void Load(string path, bool strict = true) => LoadStateDict(Safetensors.Read(path), strict);

    /// <summary>Throws unless <paramref name="x"/> has rank ≥ <paramref name="minRank"/> and last axis <paramref name="width"/>.</summary>
    internal static void CheckLastAxis(Var x, int width, string layer, int minRank = 1, string paramName = "x")
    {
        ArgumentNullException.ThrowIfNull(x, paramName);
        if (x.Rank < minRank || x.Shape[^1] != width)
            throw new ArgumentException($"{layer} expects input of shape (…, {width}) (rank ≥ {minRank}), got {Var.Fmt(x.Shape)}", paramName);
    }
}

/// <summary>A module with one input and one output (what <see cref="Sequential"/> chains).</summary>
public interface ILayer
{
    /// <summary>Applies the layer.</summary>
    Var Forward(Var x);
}
