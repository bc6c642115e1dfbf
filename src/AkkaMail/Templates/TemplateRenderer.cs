using System.Globalization;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.RegularExpressions;
using System.Text.Unicode;
using Fluid;
using Fluid.Values;

namespace AkkaMail.Templates;

/// <summary>What is wrong with a template or its variables: the field (<c>subject</c>, <c>text</c>, <c>html</c>,
/// <c>variables.x</c>…), what, and for a syntax error where (1-based line and column in that field).</summary>
public sealed record TemplateProblem(string Field, string Message, int? Line = null, int? Column = null);

public abstract record RenderResult
{
    public sealed record Rendered(string Subject, string? Text, string? Html) : RenderResult;
    public sealed record Refused(IReadOnlyList<TemplateProblem> Problems) : RenderResult;
}

/// <summary>
/// The limits a template and its rendering live within. They keep a hostile template (an endless loop, output that
/// doubles itself, blocks nested thousands deep) from holding a thread or memory: every one of them ends the
/// rendering with a 4xx naming it, in bounded time.
/// </summary>
public static class TemplateLimits
{
    public const int MaxNameLength = 64;
    public const int MaxSubjectSourceLength = 4 * 1024;
    /// <summary>Each of text and html, as written (characters).</summary>
    public const int MaxBodySourceLength = 256 * 1024;
    /// <summary>Each rendered part (characters): far below Mailgun's 25 MB message.</summary>
    public const int MaxOutputLength = 2 * 1024 * 1024;
    /// <summary>Statements one rendering may execute (loop iterations count): ~10 ms of work per 10,000 here.</summary>
    public const int MaxSteps = 200_000;
    /// <summary>Items one operation may materialize (a range, a split, a loop's collection).</summary>
    public const int MaxCollectionSize = 10_000;
    /// <summary>Nesting of blocks and expressions, checked when the template is parsed.</summary>
    public const int MaxNesting = 32;
    public const int MaxVariables = 100;
    /// <summary>The variables as JSON, all together.</summary>
    public const int MaxVariablesBytes = 256 * 1024;
    public const int MaxVariableDepth = 10;
    public static readonly TimeSpan MaxRenderTime = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Liquid templates rendered with Fluid (Fluid.Core 3): sandboxed by design (a template reaches only the values we
/// give it, no .NET members, no files: include and render are refused), with limits on steps, output, collection
/// sizes and nesting built in, a strict mode that names a missing variable, and parse errors with line and column.
/// The html part is rendered with HTML encoding of every value (a variable cannot inject markup; <c>| raw</c> opts out);
/// subject and text are plain.
/// </summary>
public sealed partial class TemplateRenderer
{
    private static readonly FluidParser Parser = new(new FluidParserOptions { MaxRecursionDepth = TemplateLimits.MaxNesting });
    private static readonly TextEncoder Html = HtmlEncoder.Create(UnicodeRanges.All);

    private readonly TemplateOptions _strict;
    private readonly TemplateOptions _lenient;

    public TemplateRenderer(TimeProvider? clock = null)
    {
        var now = clock ?? TimeProvider.System;
        TemplateOptionsBuilder Options() => new TemplateOptionsBuilder()
            .WithMaxSteps(TemplateLimits.MaxSteps)
            .WithMaxOutputSize(TemplateLimits.MaxOutputLength)
            .WithMaxCollectionSize(TemplateLimits.MaxCollectionSize)
            .WithMaxRecursion(TemplateLimits.MaxNesting)
            .WithCultureInfo(CultureInfo.InvariantCulture)
            .WithTimeZone(TimeZoneInfo.Utc)
            .WithNow(() => now.GetUtcNow());
        _strict = Options().WithStrictVariables(true).WithStrictFilters(true).Build();
        _lenient = Options().Build();
    }

    [GeneratedRegex(@"^[A-Za-z0-9][A-Za-z0-9_.-]*$")]
    private static partial Regex NamePattern();

    [GeneratedRegex(@"^[A-Za-z_][A-Za-z0-9_-]*$")]
    private static partial Regex VariableNamePattern();

    /// <summary>Tags that read other templates from files: there are none to read, and a template must stand alone.</summary>
    [GeneratedRegex(@"\{%-?\s*(include|render|layout)\b")]
    private static partial Regex FileTag();

    [GeneratedRegex(@"Undefined variable '([^']*)'")]
    private static partial Regex UndefinedVariable();

    public static string? NameProblem(string? name) =>
        string.IsNullOrEmpty(name) ? "is required"
        : name.Length > TemplateLimits.MaxNameLength || !NamePattern().IsMatch(name)
            ? $"letters, digits, '_', '-', '.' (starting with a letter or digit), at most {TemplateLimits.MaxNameLength}"
            : null;

    /// <summary>Every problem of the sources: sizes, syntax (with line and column), tags that would read files.</summary>
    public IReadOnlyList<TemplateProblem> Check(TemplateDefinition definition)
    {
        var problems = new List<TemplateProblem>();
        foreach (var (field, source, max) in Parts(definition))
        {
            if (source is null) continue;
            if (source.Length > max) { problems.Add(new(field, $"at most {max} characters (limit of a template's {field})")); continue; }
            if (TryParse(field, source, out _) is { } problem) problems.Add(problem);
        }
        if (string.IsNullOrWhiteSpace(definition.Subject)) problems.Add(new("subject", "is required"));
        if (string.IsNullOrEmpty(definition.Text) && string.IsNullOrEmpty(definition.Html)) problems.Add(new("text", "text or html is required"));
        return problems;
    }

    private static IEnumerable<(string Field, string? Source, int Max)> Parts(TemplateDefinition d) => new[]
    {
        ("subject", (string?)d.Subject, TemplateLimits.MaxSubjectSourceLength),
        ("text", d.Text, TemplateLimits.MaxBodySourceLength),
        ("html", d.Html, TemplateLimits.MaxBodySourceLength),
    };

    private static TemplateProblem? TryParse(string field, string source, out IFluidTemplate? template)
    {
        template = null;
        if (FileTag().Match(source) is { Success: true } fileTag)
        {
            var (line, column) = Position(source, fileTag.Index);
            return new(field, $"line {line}, column {column}: the '{fileTag.Groups[1].Value}' tag is not available (a template cannot read other files)", line, column);
        }
        try
        {
            template = Parser.Parse(source);
            return null;
        }
        catch (ParseException e)
        {
            var message = e.Message.Split(" at (", 2)[0].Split('\n', 2)[0].Trim();
            return e.Position is { } p
                ? new(field, $"line {p.Line}, column {p.Column}: {message}", p.Line, p.Column)
                : new(field, message);
        }
        catch (Exception e) when (e is InvalidOperationException or ArgumentException or FluidException)
        {
            return new(field, e.Message);
        }
    }

    private static (int Line, int Column) Position(string source, int index)
    {
        var line = 1;
        var lineStart = 0;
        for (var i = 0; i < index; i++)
            if (source[i] == '\n') { line++; lineStart = i + 1; }
        return (line, index - lineStart + 1);
    }

    /// <summary>Problems of the variables themselves: a JSON object of at most <see cref="TemplateLimits.MaxVariables"/>
    /// names, <see cref="TemplateLimits.MaxVariablesBytes"/> bytes and <see cref="TemplateLimits.MaxVariableDepth"/> levels.</summary>
    public static IReadOnlyList<TemplateProblem> CheckVariables(JsonElement? variables, string field = "variables")
    {
        var problems = new List<TemplateProblem>();
        if (variables is not { } v || v.ValueKind is JsonValueKind.Null or JsonValueKind.Undefined) return problems;
        if (v.ValueKind != JsonValueKind.Object) { problems.Add(new(field, "must be a JSON object")); return problems; }
        if (v.GetRawText().Length > TemplateLimits.MaxVariablesBytes)
            problems.Add(new(field, $"at most {TemplateLimits.MaxVariablesBytes / 1024} KB of JSON in all"));
        var count = 0;
        foreach (var p in v.EnumerateObject())
        {
            if (++count > TemplateLimits.MaxVariables) { problems.Add(new(field, $"at most {TemplateLimits.MaxVariables} variables")); break; }
            if (p.Name.Length > 64 || !VariableNamePattern().IsMatch(p.Name))
                problems.Add(new($"{field}.{Clip(p.Name)}", "names are letters, digits, '_' and '-', starting with a letter or '_' (at most 64)"));
            else if (Depth(p.Value) > TemplateLimits.MaxVariableDepth)
                problems.Add(new($"{field}.{p.Name}", $"nested at most {TemplateLimits.MaxVariableDepth} levels deep"));
        }
        return problems;
    }

    private static int Depth(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.Object => 1 + e.EnumerateObject().Select(p => Depth(p.Value)).DefaultIfEmpty(0).Max(),
        JsonValueKind.Array => 1 + e.EnumerateArray().Select(Depth).DefaultIfEmpty(0).Max(),
        _ => 0,
    };

    private static string Clip(string s) => s.Length > 40 ? s[..40] + "…" : s;

    /// <summary>The variable through which a batch's template reads each recipient's own values: <c>{{ recipient.name }}</c>.</summary>
    public const string RecipientVariable = "recipient";

    /// <summary>In the html part a recipient's value is substituted HTML-escaped: under this prefix (<c>%recipient._html_name%</c>),
    /// a name no client's variable can have (they start with a letter).</summary>
    public const string HtmlValuePrefix = "_html_";

    /// <summary>
    /// Renders subject, text and html with <paramref name="variables"/> (a JSON object; checked here too). Never throws
    /// for a template or variables: every failure, a time or size limit included, is a <see cref="RenderResult.Refused"/>.
    /// <paramref name="recipientValues"/>: a batch's per-recipient value names; <c>{{ recipient.name }}</c> renders as the
    /// provider's placeholder <c>%recipient.name%</c> (<c>%recipient._html_name%</c> in html), substituted per recipient
    /// when the batch is sent. So a batch is rendered once, whatever its size.
    /// </summary>
    public async Task<RenderResult> RenderAsync(TemplateDefinition definition, JsonElement? variables,
        IReadOnlyCollection<string>? recipientValues = null, CancellationToken ct = default)
    {
        var problems = new List<TemplateProblem>(Check(definition));
        problems.AddRange(CheckVariables(variables));
        if (problems.Count > 0) return new RenderResult.Refused(problems);

        var options = definition.Strict ? _strict : _lenient;
        var values = new Dictionary<string, FluidValue>(StringComparer.Ordinal);
        if (variables is { ValueKind: JsonValueKind.Object } v)
            foreach (var p in v.EnumerateObject()) values[p.Name] = ToFluid(p.Value);

        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(TemplateLimits.MaxRenderTime);
        var rendered = new Dictionary<string, string?>();
        foreach (var (field, source, _) in Parts(definition))
        {
            if (source is null) { rendered[field] = null; continue; }
            TryParse(field, source, out var template);
            var context = new TemplateContext(options) { CancellationToken = timeout.Token };
            foreach (var (name, value) in values) context.SetValue(name, value);
            if (recipientValues is not null)
                context.SetValue(RecipientVariable, DictionaryValue.Create(new FluidValueDictionaryFluidIndexable(
                    recipientValues.ToDictionary(n => n, n => (FluidValue)StringValue.Create(
                        field == "html" ? $"%recipient.{HtmlValuePrefix}{n}%" : $"%recipient.{n}%")))));
            try
            {
                // On the thread pool, awaited with the time limit: the step limit bounds the work, the wait bounds the answer.
                rendered[field] = await Task.Run(() => template!.RenderAsync(context, field == "html" ? Html : NullEncoder.Default).AsTask(), timeout.Token)
                    .WaitAsync(TemplateLimits.MaxRenderTime, ct);
            }
            catch (Exception e) when (!ct.IsCancellationRequested)
            {
                problems.Add(Problem(field, e));
            }
        }
        return problems.Count > 0
            ? new RenderResult.Refused(problems)
            : new RenderResult.Rendered(rendered["subject"]!, rendered["text"], rendered["html"]);
    }

    private static TemplateProblem Problem(string field, Exception e) => e switch
    {
        FluidException f when UndefinedVariable().Match(f.Message) is { Success: true } m =>
            new($"variables.{m.Groups[1].Value}", $"the template's {field} uses '{m.Groups[1].Value}' and no such variable was given (strict template)"),
        TimeoutException or OperationCanceledException =>
            new(field, $"rendering took longer than {TemplateLimits.MaxRenderTime.TotalSeconds:0} s (limit)"),
        InvalidOperationException when e.Message.Contains("steps", StringComparison.Ordinal) =>
            new(field, $"rendering executed more than {TemplateLimits.MaxSteps} steps (limit: an endless or too long loop?)"),
        InvalidOperationException when e.Message.Contains("output size", StringComparison.Ordinal) =>
            new(field, $"rendering produced more than {TemplateLimits.MaxOutputLength} characters (limit)"),
        InvalidOperationException when e.Message.Contains("collection size", StringComparison.Ordinal) =>
            new(field, $"an operation made more than {TemplateLimits.MaxCollectionSize} items (limit)"),
        InvalidOperationException when e.Message.Contains("recursion", StringComparison.OrdinalIgnoreCase) =>
            new(field, $"rendering nested deeper than {TemplateLimits.MaxNesting} (limit)"),
        _ => new(field, $"rendering failed: {Clip(e.Message.Split('\n', 2)[0])}"),
    };

    /// <summary>A JSON value as a Liquid value: objects are hashes, arrays are arrays, numbers are decimals.</summary>
    public static FluidValue ToFluid(JsonElement e) => e.ValueKind switch
    {
        JsonValueKind.String => StringValue.Create(e.GetString()!),
        JsonValueKind.Number => e.TryGetDecimal(out var d) ? NumberValue.Create(d) : StringValue.Create(e.GetRawText()),
        JsonValueKind.True => BooleanValue.True,
        JsonValueKind.False => BooleanValue.False,
        JsonValueKind.Array => ArrayValue.Create(e.EnumerateArray().Select(ToFluid).ToArray()),
        JsonValueKind.Object => DictionaryValue.Create(new FluidValueDictionaryFluidIndexable(
            e.EnumerateObject().GroupBy(p => p.Name).ToDictionary(g => g.Key, g => ToFluid(g.Last().Value)))),
        _ => NilValue.Instance,
    };
}
