using System.Globalization;
using Attention.Tensors;

namespace Attention.Data;

/// <summary>
/// A source → target token sequence pair with its gold alignment (source positions × target positions).
/// For character tasks every token is one character.
/// </summary>
public sealed record AlignedExample(string[] Source, string[] Target, GoldAlignment Gold)
{
    public override string ToString() => $"{string.Join(Source.All(s => s.Length == 1) ? "" : " ", Source)} → {string.Join(Target.All(s => s.Length == 1) ? "" : " ", Target)}";
}

/// <summary>
/// T-Date: date normalisation, human-readable date → ISO 8601 ("Tue, 3 March 2015" → "2015-03-03"), character
/// level, with a gold alignment. Ten source formats (<see cref="Formats"/>), years 1950–2049.
/// <para>Gold links (target position ← source characters):</para>
/// <list type="bullet">
/// <item>year digit ↔ the same year digit: Sure. Two-digit years ("03.03.15"): the last two digits Sure, the
///   century digits "19"/"20" Possible to both source year digits (the century is inferred, not copied).</item>
/// <item>month digits ↔ month name: each month digit is Sure to the first three letters of the name (they
///   determine the month) and Possible to the remaining letters. Numeric months: digit ↔ digit Sure; a
///   zero-pad "0" that the source lacks ("3/4/2015") is Possible to the source digit.</item>
/// <item>day digits ↔ day digits, the same way; an ordinal suffix ("3rd") is unaligned.</item>
/// <item>each "-" is Possible to every character of the field just before it (year, then month).</item>
/// <item>weekday names, commas, spaces and "of" are unaligned (the weekday is redundant).</item>
/// </list>
/// Answer: docs/answers/32-alignment-in-translation.md
/// </summary>
public static class DateTask
{
    /// <summary>The source formats, for the page's table: an example of each (3 March 2015).</summary>
    public static readonly string[] Formats =
    [
        "Tue, 3 March 2015", "3 March 2015", "March 3, 2015", "03/03/2015", "3 Mar 2015",
        "Tuesday, March 3, 2015", "03.03.15", "3rd of March 2015", "Tue 03 Mar 2015", "2015/3/3",
    ];

    private static readonly string[] MonthNames = CultureInfo.InvariantCulture.DateTimeFormat.MonthNames[..12];
    private static readonly string[] DayNames = CultureInfo.InvariantCulture.DateTimeFormat.DayNames;

    /// <summary><paramref name="count"/> examples with dates drawn uniformly from 1950-01-01 … 2049-12-31 and formats uniformly.</summary>
    public static List<AlignedExample> Generate(int count, Rng rng)
    {
        if (count < 1) throw new ArgumentOutOfRangeException(nameof(count), count, "Expected at least one example.");
        ArgumentNullException.ThrowIfNull(rng);
        var start = new DateOnly(1950, 1, 1);
        int days = new DateOnly(2049, 12, 31).DayNumber - start.DayNumber + 1;
        var list = new List<AlignedExample>(count);
        for (int i = 0; i < count; i++)
            list.Add(Make(start.AddDays(rng.NextInt(days)), rng.NextInt(Formats.Length)));
        return list;
    }

    /// <summary>The example of one date in format <paramref name="format"/> (index into <see cref="Formats"/>).</summary>
    public static AlignedExample Make(DateOnly date, int format)
    {
        if ((uint)format >= (uint)Formats.Length)
            throw new ArgumentOutOfRangeException(nameof(format), format, $"Expected a format index in [0, {Formats.Length}).");
        if (date.Year is < 1950 or > 2049)
            throw new ArgumentOutOfRangeException(nameof(date), date, "Expected a year in 1950–2049 (two-digit years are read in that window).");
        string month = MonthNames[date.Month - 1], mon = month[..3], dayName = DayNames[(int)date.DayOfWeek];
        string d = date.Day.ToString(CultureInfo.InvariantCulture), dd = date.Day.ToString("00", CultureInfo.InvariantCulture);
        string m = date.Month.ToString(CultureInfo.InvariantCulture), mm = date.Month.ToString("00", CultureInfo.InvariantCulture);
        string yyyy = date.Year.ToString(CultureInfo.InvariantCulture), yy = yyyy[2..];
        string suffix = (date.Day % 10, date.Day / 10) switch { (1, not 1) => "st", (2, not 1) => "nd", (3, not 1) => "rd", _ => "th" };

        // each format is a list of pieces: literal text or a field (Y year, M month, D day) with its text
        var pieces = format switch
        {
            0 => P(("", dayName[..3] + ", "), ("D", d), ("", " "), ("M", month), ("", " "), ("Y", yyyy)),
            1 => P(("D", d), ("", " "), ("M", month), ("", " "), ("Y", yyyy)),
            2 => P(("M", month), ("", " "), ("D", d), ("", ", "), ("Y", yyyy)),
            3 => P(("D", dd), ("", "/"), ("M", mm), ("", "/"), ("Y", yyyy)),
            4 => P(("D", d), ("", " "), ("M", mon), ("", " "), ("Y", yyyy)),
            5 => P(("", dayName + ", "), ("M", month), ("", " "), ("D", d), ("", ", "), ("Y", yyyy)),
            6 => P(("D", dd), ("", "."), ("M", mm), ("", "."), ("Y", yy)),
            7 => P(("D", d), ("", suffix + " of "), ("M", month), ("", " "), ("Y", yyyy)),
            8 => P(("", dayName[..3] + " "), ("D", dd), ("", " "), ("M", mon), ("", " "), ("Y", yyyy)),
            _ => P(("Y", yyyy), ("", "/"), ("M", m), ("", "/"), ("D", d)),
        };

        var source = new List<string>();
        var span = new Dictionary<string, (int Start, int Length)>();
        foreach (var (field, text) in pieces)
        {
            if (field.Length > 0) span[field] = (source.Count, text.Length);
            foreach (char c in text) source.Add(c.ToString());
        }
        string iso = $"{yyyy}-{mm}-{dd}";
        var target = iso.Select(c => c.ToString()).ToArray();
        var sure = new List<Link>(); var possible = new List<Link>();

        // year → target 0..3
        var (ys, yl) = span["Y"];
        if (yl == 4) for (int k = 0; k < 4; k++) sure.Add(new Link(ys + k, k));
        else
        {
            sure.Add(new Link(ys, 2)); sure.Add(new Link(ys + 1, 3));
            for (int k = 0; k < 2; k++) { possible.Add(new Link(ys, k)); possible.Add(new Link(ys + 1, k)); }
        }
        for (int k = 0; k < yl; k++) possible.Add(new Link(ys + k, 4));                    // "-" after the year

        var (ms, ml) = span["M"];
        if (char.IsLetter(source[ms][0]))
            for (int t = 5; t <= 6; t++)
                for (int k = 0; k < ml; k++) (k < 3 ? sure : possible).Add(new Link(ms + k, t));
        else NumericField(ms, ml, 5, sure, possible);
        for (int k = 0; k < ml; k++) possible.Add(new Link(ms + k, 7));                    // "-" after the month

        var (ds, dl) = span["D"];
        NumericField(ds, dl, 8, sure, possible);

        return new AlignedExample(source.ToArray(), target, new GoldAlignment(source.Count, target.Length, sure, possible));
    }

    // a numeric field of 1 or 2 source digits → 2 target digits starting at t0
    private static void NumericField(int start, int length, int t0, List<Link> sure, List<Link> possible)
    {
        if (length == 2) { sure.Add(new Link(start, t0)); sure.Add(new Link(start + 1, t0 + 1)); }
        else { possible.Add(new Link(start, t0)); sure.Add(new Link(start, t0 + 1)); }
    }

    private static (string Field, string Text)[] P(params (string, string)[] pieces) => pieces;
}
