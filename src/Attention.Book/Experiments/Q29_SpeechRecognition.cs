using Attention.Alignments;
using Attention.Data;
using Attention.Models;
using Attention.Plots;
using Attention.Tensors;

namespace Attention.Book.Experiments;

/// <summary>
/// Q29 · Attention in speech recognition: listen-attend-spell (Chan et al., 2016) on spoken digit strings (espeak-ng
/// clips concatenated with random pauses, so the gold word boundaries are exact), with content-only additive attention
/// against location-aware attention (Chorowski et al., 2015). Trains both on strings of 1..L digits for a fixed number
/// of steps, then measures on held-out recordings: digit error rate (greedy decoding), how much of each output digit's
/// attention falls inside its gold word (teacher-forced), whether the argmax lies there, whether attention moves
/// monotonically, and what happens on strings longer than any seen in training.
/// Page: docs/answers/29-speech-recognition.md
/// </summary>
public sealed class Q29_SpeechRecognition : Experiment
{
    public override int Question => 29;
    public override string Title => "Listen-attend-spell: location-aware vs content-only attention on spoken digits";

    private sealed record Setting(int Train, int MaxLength, int Steps, int TestIn, int TestLong, int[] LongLengths, int Seeds);

    private sealed record Scores(double Der, double Exact, double LengthRatio, double ForcedDer, SpanAlignmentCounts TeacherForced, double Monotonicity);

    public override ExperimentResult Run(ExperimentContext context)
    {
        var result = new ExperimentResult { Question = Question };
        var s = context.Full
            ? new Setting(Train: 1500, MaxLength: 4, Steps: 500, TestIn: 200, TestLong: 100, LongLengths: [8, 12], Seeds: 2)
            : new Setting(Train: 600, MaxLength: 3, Steps: 200, TestIn: 60, TestLong: 40, LongLengths: [6], Seeds: 1);
        ulong seed = (ulong)context.Seed;
        var speech = SpokenDigits.LoadRepoCopy();
        var mel = new LogMel(speech.SampleRate, bands: 40, windowMs: 25, hopMs: 20);
        var (trainClips, testClips) = SpokenDigitStrings.SplitClips(speech, testEvery: 5);
        var rawTrain = SpokenDigitStrings.Build(speech, mel, trainClips, s.Train, 1, s.MaxLength, new Rng(seed));
        var (mean, std) = SpokenDigitStrings.BandStatistics(rawTrain);
        var train = SpokenDigitStrings.Standardise(rawTrain, mean, std);
        var testSets = new List<(string Name, string Key, IReadOnlyList<SpeechExample> Data)>
        {
            ($"1–{s.MaxLength} digits (as in training)", "in",
             SpokenDigitStrings.Standardise(SpokenDigitStrings.Build(speech, mel, testClips, s.TestIn, 1, s.MaxLength, new Rng(seed + 1)), mean, std)),
        };
        testSets.Add(($"{s.MaxLength} × one digit (repeated word)", "repeat",
            SpokenDigitStrings.Standardise(SpokenDigitStrings.BuildRepeated(speech, mel, testClips, s.TestLong, s.MaxLength, new Rng(seed + 3)), mean, std)));
        testSets.Add(($"1–{s.MaxLength} digits, pauses 0.4–1 s (training: 0.05–0.3 s)", "pauses",
            SpokenDigitStrings.Standardise(SpokenDigitStrings.Build(speech, mel, testClips, s.TestLong, 1, s.MaxLength, new Rng(seed + 4), minPause: 0.4, maxPause: 1.0), mean, std)));
        foreach (var n in s.LongLengths)
            testSets.Add(($"{n} digits (longer than training)", $"long{n}",
                SpokenDigitStrings.Standardise(SpokenDigitStrings.Build(speech, mel, testClips, s.TestLong, n, n, new Rng(seed + (ulong)n)), mean, std)));
        var trainPairs = train.Select(LasExample.FromSpeech).ToList();

        (string Name, string Key, SpellerAttention Kind)[] models =
            [("location-aware", "location", SpellerAttention.LocationAware), ("content-only", "content", SpellerAttention.Content)];
        var all = new Dictionary<(string Model, string Set), List<Scores>>();
        double trainSeconds = 0;
        var example = testSets[^1].Data.OrderByDescending(e => e.Frames).First();
        var inExample = testSets[0].Data.OrderByDescending(e => e.Digits.Length).ThenBy(e => e.Frames).First();
        int runs = models.Length * s.Seeds, run = 0;
        for (int seedIndex = 0; seedIndex < s.Seeds; seedIndex++)
            foreach (var (name, key, kind) in models)
            {
                context.Cancellation.ThrowIfCancellationRequested();
                int at = run++;
                var config = new LasConfig(mel.Bands, ListenAttendSpell.DigitVocabulary.Count) { Attention = kind, BottomLayers = 0, PyramidLayers = 2 };
                var model = new ListenAttendSpell(config, new Rng(seed + 100 + (ulong)seedIndex));
                var report = ListenAttendSpellTrainer.Train(model, trainPairs, new LasTrainOptions
                {
                    Steps = s.Steps, BatchSize = 16, LearningRate = 3e-3f, Seed = seed + 200 + (ulong)seedIndex,
                    Progress = (f, status) => context.Report((at + 0.9 * f) / runs, $"{name}, seed {seedIndex + 1}: {status}"),
                });
                trainSeconds += report.Seconds;
                foreach (var (_, setKey, data) in testSets)
                {
                    var scores = Evaluate(model, data, mel, config.Reduction);
                    (all.TryGetValue((key, setKey), out var list) ? list : all[(key, setKey)] = []).Add(scores);
                }
                if (seedIndex == 0)
                {
                    var hyp = model.Greedy([LasExample.FromSpeech(inExample)], 2 * inExample.Digits.Length + 2)[0];
                    if (kind == SpellerAttention.LocationAware && hyp.Tokens.Length > 0)
                    {
                        AddFigure(result, context, inExample, mel, config.Reduction, hyp.Weights,
                            hyp.Tokens.Select(t => ListenAttendSpell.DigitVocabulary.Symbols[t]).ToList(),
                            "q29-location-aware-in.png", $"Location-aware, held-out {inExample.Digits.Length}-digit string: greedy transcription's attention");
                    }
                    var weights = model.TeacherForcedWeights([LasExample.FromSpeech(example)])[0];
                    AddFigure(result, context, example, mel, config.Reduction, weights, example.Digits.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList(),
                        $"q29-{key}-long.png", $"{char.ToUpperInvariant(name[0])}{name[1..]}, {example.Digits.Length}-digit string (trained on ≤ {s.MaxLength}): teacher-forced attention");
                }
            }

        var table = new Table($"Listen-attend-spell on spoken digit strings: trained on {s.Train} strings of 1–{s.MaxLength} digits ({s.Steps} Adam steps, batch 16), tested on held-out recordings" +
                              (s.Seeds > 1 ? $"; mean over {s.Seeds} seeds (min–max)" : ""),
            "test strings", "attention", "digit error rate", "exact strings", "output / gold length", "digit error rate, EOS blocked to gold length",
            "mass in gold word", "argmax in gold word", "monotonic steps");
        foreach (var (setName, setKey, data) in testSets)
        {
            double chance = all[(models[0].Key, setKey)][0].TeacherForced.MeanChanceMass;
            foreach (var (name, key, _) in models)
            {
                var list = all[(key, setKey)];
                table.AddRow(setName, name, Cell(list, x => x.Der), Cell(list, x => x.Exact), Cell(list, x => x.LengthRatio), Cell(list, x => x.ForcedDer),
                    Cell(list, x => x.TeacherForced.MeanMassInSpan), Cell(list, x => x.TeacherForced.ArgmaxAccuracy), Cell(list, x => x.Monotonicity));
                string m = $"{key}_{setKey}";
                result.Metrics[$"der_{m}"] = list.Average(x => x.Der);
                result.Metrics[$"exact_{m}"] = list.Average(x => x.Exact);
                result.Metrics[$"length_ratio_{m}"] = list.Average(x => x.LengthRatio);
                result.Metrics[$"mass_in_span_{m}"] = list.Average(x => x.TeacherForced.MeanMassInSpan);
                result.Metrics[$"argmax_in_span_{m}"] = list.Average(x => x.TeacherForced.ArgmaxAccuracy);
                result.Metrics[$"der_forced_length_{m}"] = list.Average(x => x.ForcedDer);
                result.Metrics[$"monotonicity_{m}"] = list.Average(x => x.Monotonicity);
            }
            result.Metrics[$"chance_mass_{setKey}"] = chance;
        }
        result.Tables.Add(table);

        string longKey = testSets[^1].Key;
        double Metric(string name) => result.Metrics[name];
        result.Check("both spellers transcribe held-out strings of training lengths (digit error rate below 20%)",
            Metric("der_location_in") < 0.2 && Metric("der_content_in") < 0.2,
            $"location-aware {Metric("der_location_in"):P1}, content-only {Metric("der_content_in"):P1}");
        result.Check("on those strings both attend to the word being spelled: over half of each digit's attention lies in its gold word, well above the uniform share",
            Metric("mass_in_span_location_in") > Math.Max(0.5, 1.5 * Metric("chance_mass_in")) && Metric("mass_in_span_content_in") > Math.Max(0.5, 1.5 * Metric("chance_mass_in")),
            $"location-aware {Metric("mass_in_span_location_in"):F2}, content-only {Metric("mass_in_span_content_in"):F2}, uniform {Metric("chance_mass_in"):F2}");
        result.Check("on strings of one repeated digit word, where only position tells the words apart, content-only attention makes more digit errors than location-aware",
            Metric("der_content_repeat") > Metric("der_location_repeat"),
            $"content-only {Metric("der_content_repeat"):P1}, location-aware {Metric("der_location_repeat"):P1}");
        result.Check("on strings whose pauses are longer than any in training (same digits, longer audio), content-only attention makes more digit errors than location-aware",
            Metric("der_content_pauses") > Metric("der_location_pauses"),
            $"content-only {Metric("der_content_pauses"):P1}, location-aware {Metric("der_location_pauses"):P1}");
        result.Check($"strings longer than any in training are transcribed worse by both (digit error rate at {testSets[^1].Name.Split(' ')[0]} digits above the in-length one)",
            Metric($"der_location_{longKey}") > Metric("der_location_in") && Metric($"der_content_{longKey}") > Metric("der_content_in"),
            $"location-aware {Metric("der_location_in"):P1} → {Metric($"der_location_{longKey}"):P1}, content-only {Metric("der_content_in"):P1} → {Metric($"der_content_{longKey}"):P1}");

        result.Notes.Add($"Features: {mel.Bands} log-mel bands, {mel.WindowMs:0} ms windows every {mel.HopMs:0} ms, standardised per band on the training set. " +
                         $"Listener: two pyramidal BLSTM layers of 64 per direction, so one listener step is {4 * mel.HopMs:0} ms; speller: one LSTM of 128; attention width 64 " +
                         "(location-aware: 8 filters of width 5 over α_{i−1}). Test strings use the held-out fifth of the clips of every digit.");
        result.Notes.Add("Mass in gold word: teacher-forced attention of output digit i summed over the listener steps whose time slot overlaps word i (uniform attention would score " +
                         string.Join(", ", testSets.Select(t => $"{Metric($"chance_mass_{t.Key}"):F2} on {t.Name}")) +
                         "); argmax in gold word: the most-attended step lies in that span; monotonic steps: share of consecutive outputs of the length-forced greedy decoding whose most-attended step does not move back. " +
                         "EOS blocked to gold length: greedy decoding that may not stop before it has emitted as many digits as were spoken, which tells a speller that stops early from attention that has lost its place.");
        result.Notes.Add($"Training time, all {runs} models: {trainSeconds:F0} s (load average {LoadAverage()}).");
        return result;
    }

    private static Scores Evaluate(ListenAttendSpell model, IReadOnlyList<SpeechExample> data, LogMel mel, int reduction)
    {
        var pairs = data.Select(LasExample.FromSpeech).ToList();
        int maxLength = 2 * data.Max(e => e.Digits.Length) + 2;
        var hyps = ListenAttendSpellTrainer.Transcribe(model, pairs, maxLength);
        var (der, exact) = ListenAttendSpellTrainer.Score(pairs, hyps);
        var forcedHyps = ListenAttendSpellTrainer.Transcribe(model, pairs, maxLength, forceLength: true);
        var (forcedDer, _) = ListenAttendSpellTrainer.Score(pairs, forcedHyps);
        var counts = new SpanAlignmentCounts();
        var forced = new List<float[,]>();
        foreach (var chunk in pairs.Chunk(32)) forced.AddRange(model.TeacherForcedWeights(chunk));
        for (int i = 0; i < data.Count; i++)
            counts += SpanAlignment.Score(forced[i], SpokenDigitStrings.WordSteps(data[i].Utterance, mel, reduction, forced[i].GetLength(1)));
        double lengthRatio = hyps.Select((h, i) => (double)h.Tokens.Length / pairs[i].Tokens.Length).Average();
        double monotonic = forcedHyps.Average(h => SpanAlignment.Monotonicity(h.Weights));
        return new Scores(der, exact, lengthRatio, forcedDer, counts, monotonic);
    }

    private static string Cell(List<Scores> list, Func<Scores, double> f)
    {
        var v = list.Select(f).ToList();
        string mean = Table.FormatNumber(Math.Round(v.Average(), 3));
        return v.Count == 1 ? mean : $"{mean} ({Table.FormatNumber(Math.Round(v.Min(), 3))}–{Table.FormatNumber(Math.Round(v.Max(), 3))})";
    }

    private static void AddFigure(ExperimentResult result, ExperimentContext context, SpeechExample example, LogMel mel, int reduction,
                                  float[,] weights, IReadOnlyList<string> rowLabels, string file, string caption)
    {
        var spectrogram = new float[example.Bands, example.Frames];
        for (int t = 0; t < example.Frames; t++)
            for (int b = 0; b < example.Bands; b++) spectrogram[b, t] = example.Features[t * example.Bands + b];
        double rate = mel.SampleRate, secondsPerFrame = mel.Hop / rate, offset = mel.Window / 2.0 / rate;
        // frame t is centred at t·hop + window/2: shift the word spans so they line up with the frame columns
        var words = example.Utterance.Words.Select(w => (w.Start / rate - offset, w.End / rate - offset)).ToList();
        var labels = example.Digits.Select(d => d.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToList();
        var path = context.FigurePath(file);
        SpeechCharts.SpectrogramWithAttention(path, caption, spectrogram, weights, reduction, secondsPerFrame, words, labels, rowLabels);
        var steps = Enumerable.Range(0, weights.GetLength(1)).Select(k => (k * reduction * secondsPerFrame).ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)).ToList();
        result.Figures.Add(new Figure(path, caption + " (dashed: gold word boundaries).") { Heatmap = weights, RowLabels = rowLabels, ColumnLabels = steps });
    }

    private static string LoadAverage()
    {
        try { return File.ReadAllText("/proc/loadavg").Split(' ')[0]; }
        catch (IOException) { return "unknown"; }
        catch (UnauthorizedAccessException) { return "unknown"; }
    }
}
