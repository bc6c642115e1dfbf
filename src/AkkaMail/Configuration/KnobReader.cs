using Akka.Configuration;

namespace AkkaMail.Configuration;

/// <summary>
/// Reads knobs from the loaded HOCON with HOCON's own parsing (durations in ms, s, m, h, d; on/off), each checked
/// against its bounds. A knob that does not parse or is out of bounds is recorded as a failure that names its
/// configuration key and HOCON path; <see cref="ThrowIfAny{T}"/> reports them all at once.
/// </summary>
public sealed class KnobReader(Config root)
{
    private readonly List<string> _failures = [];

    public IReadOnlyList<string> Failures => _failures;

    public int Int(string path, int fallback, int min = int.MinValue, int max = int.MaxValue) =>
        Read(path, fallback, v => v.GetInt(), "a whole number", v => v < min ? $"at least {min}" : v > max ? $"at most {max}" : null);

    public double Double(string path, double fallback, double min, double max) =>
        Read(path, fallback, v => v.GetDouble(), "a number", v => v < min || v > max ? $"between {min} and {max}" : null);

    public bool Bool(string path, bool fallback) => Read(path, fallback, v => v.GetBoolean(), "on or off", _ => null);

    public string String(string path, string fallback) =>
        Read(path, fallback, v => v.GetString(), "a string", v => string.IsNullOrWhiteSpace(v) ? "not empty" : null);

    /// <summary>A duration; <paramref name="min"/> is inclusive.</summary>
    public TimeSpan Duration(string path, TimeSpan fallback, TimeSpan min) =>
        Read(path, fallback, v => v.GetTimeSpan(allowInfinite: false), "a duration (250ms, 5s, 2m, 1h, 1d)",
            v => v < min ? $"at least {Format(min)}" : null);

    /// <summary>A duration greater than zero.</summary>
    public TimeSpan PositiveDuration(string path, TimeSpan fallback) =>
        Read(path, fallback, v => v.GetTimeSpan(allowInfinite: false), "a duration (250ms, 5s, 2m, 1h, 1d)",
            v => v <= TimeSpan.Zero ? "more than 0" : null);

    /// <summary>A list of durations, each greater than zero, at least one.</summary>
    public IReadOnlyList<TimeSpan> PositiveDurations(string path, IReadOnlyList<TimeSpan> fallback) =>
        Read(path, fallback,
            v => v.GetArray().Select(item => item.GetTimeSpan(allowInfinite: false)).ToArray(),
            "a list of durations ([100ms, 1s, 1m])",
            v => v.Count == 0 || v.Any(t => t <= TimeSpan.Zero) ? "one or more durations, each more than 0" : null);

    /// <summary>A list of strings, each checked by <paramref name="each"/> (null: fine, else the rule it breaks); may be empty.</summary>
    public IReadOnlyList<string> Strings(string path, IReadOnlyList<string> fallback, string what, Func<string, bool> each) =>
        Read(path, fallback,
            v => v.IsArray() ? v.GetArray().Select(item => item.GetString()).ToArray()
                : v.GetString() is { Length: > 0 } one ? one.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries) : [],
            $"a list of {what}",
            v => v.All(each) ? null : $"a list of {what}");

    /// <summary>Records a failure of a rule that involves several knobs.</summary>
    public void Require(bool condition, string path, string rule)
    {
        if (!condition) _failures.Add($"{AkkaMailConfiguration.ConfigurationKey(path)} ({path}): {rule}");
    }

    public void ThrowIfAny<T>() => AkkaMailConfiguration.ThrowIfAny<T>(_failures);

    private T Read<T>(string path, T fallback, Func<Akka.Configuration.Hocon.HoconValue, T> parse, string what, Func<T, string?> bounds)
    {
        if (!root.HasPath(path)) return fallback;
        var value = root.GetValue(path);
        T parsed;
        try
        {
            parsed = parse(value);
        }
        catch (Exception e) when (e is FormatException or OverflowException or ConfigurationException or InvalidCastException
                                      or InvalidOperationException or ArgumentException or NotSupportedException)
        {
            _failures.Add($"{AkkaMailConfiguration.ConfigurationKey(path)} ({path}): '{Raw(value)}' is not {what}");
            return fallback;
        }
        if (bounds(parsed) is { } rule)
            _failures.Add($"{AkkaMailConfiguration.ConfigurationKey(path)} ({path}): must be {rule}, is '{Raw(value)}'");
        return parsed;
    }

    private static string Raw(Akka.Configuration.Hocon.HoconValue value)
    {
        try { return value.IsArray() ? "[" + string.Join(", ", value.GetArray().Select(Raw)) + "]" : value.GetString(); }
        catch (Exception) { return value.ToString(); }
    }

    private static string Format(TimeSpan t) => t == TimeSpan.Zero ? "0" : t.ToString();
}
