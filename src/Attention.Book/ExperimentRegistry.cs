using System.Reflection;
using System.Text.RegularExpressions;

namespace Attention.Book;

/// <summary>
/// Finds the experiments: every concrete <see cref="Experiment"/> subclass named <c>QNN_Slug</c>, one per question.
/// A class whose name and <see cref="Experiment.Question"/> disagree, or two classes claiming one question, are errors.
/// </summary>
public sealed partial class ExperimentRegistry
{
    private readonly SortedDictionary<int, Experiment> _byQuestion = new();

    /// <summary>Builds a registry from explicit experiment types (tests use this with fakes).</summary>
    public ExperimentRegistry(IEnumerable<Type> experimentTypes)
    {
        ArgumentNullException.ThrowIfNull(experimentTypes);
        foreach (var type in experimentTypes)
        {
            if (!typeof(Experiment).IsAssignableFrom(type) || type.IsAbstract)
                throw new ArgumentException($"Expected a concrete subclass of {nameof(Experiment)}; got {type.FullName}.", nameof(experimentTypes));
            var match = NamePattern().Match(type.Name);
            if (!match.Success)
                throw new InvalidOperationException($"Experiment class {type.FullName} must be named QNN_Slug (e.g. Q14_WhyScale).");
            if (type.GetConstructor(Type.EmptyTypes) is null)
                throw new InvalidOperationException($"Experiment class {type.FullName} needs a public parameterless constructor.");
            var experiment = (Experiment)Activator.CreateInstance(type)!;
            int fromName = int.Parse(match.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            if (experiment.Question != fromName)
                throw new InvalidOperationException($"Experiment class {type.FullName} is named for question {fromName} but its Question is {experiment.Question}.");
            if (experiment.Question is < 1 or > Questions.Count)
                throw new InvalidOperationException($"Experiment class {type.FullName} claims question {experiment.Question}; expected 1..{Questions.Count}.");
            if (_byQuestion.TryGetValue(experiment.Question, out var other))
                throw new InvalidOperationException(
                    $"Two experiments claim question {experiment.Question}: {other.GetType().FullName} and {type.FullName}.");
            _byQuestion.Add(experiment.Question, experiment);
        }
    }

    /// <summary>All concrete Experiment subclasses of <paramref name="assembly"/>.</summary>
    public static ExperimentRegistry FromAssembly(Assembly assembly)
    {
        ArgumentNullException.ThrowIfNull(assembly);
        return new ExperimentRegistry(assembly.GetTypes().Where(t => t.IsClass && !t.IsAbstract && typeof(Experiment).IsAssignableFrom(t)));
    }

    private static readonly Lazy<ExperimentRegistry> DefaultRegistry = new(() => FromAssembly(typeof(Experiment).Assembly));

    /// <summary>The experiments of this book (Attention.Book's Experiments/).</summary>
    public static ExperimentRegistry Default => DefaultRegistry.Value;

    /// <summary>The experiments, by question number.</summary>
    public IReadOnlyCollection<Experiment> All => _byQuestion.Values;

    /// <summary>The experiment answering <paramref name="question"/>, or null.</summary>
    public Experiment? Find(int question) => _byQuestion.GetValueOrDefault(question);

    /// <summary>The class name, e.g. Q14_WhyScale.</summary>
    public static string ClassName(Experiment experiment) => experiment.GetType().Name;

    /// <summary>Matches a class name QNN_Slug; group 1 is NN.</summary>
    [GeneratedRegex(@"^Q(\d{2})_[A-Za-z0-9]+$")]
    public static partial Regex NamePattern();
}
