using AkkaMail.Templates;

namespace AkkaMail.Api.Templates;

/// <summary>The body of POST /api/templates (with <c>name</c>) and PUT /api/templates/{name} (without): Liquid sources.</summary>
public sealed class TemplateRequest
{
    public string? Name { get; set; }
    public string? Subject { get; set; }
    public string? Text { get; set; }
    public string? Html { get; set; }
    /// <summary>Refuse to render when a variable the template uses is not given (default true); false renders it empty.</summary>
    public bool? Strict { get; set; }
}

/// <summary>The body of POST /api/templates/{name}/render.</summary>
public sealed class RenderTemplateRequest
{
    /// <summary>The version to render; the latest when absent.</summary>
    public int? Version { get; set; }
    /// <summary>The template's variables: a JSON object (values may be strings, numbers, booleans, arrays, objects).</summary>
    public System.Text.Json.JsonElement? Variables { get; set; }
}

/// <summary>One version of a template.</summary>
public sealed record TemplateResponse(
    string Name, int Version, string Subject, string? Text, string? Html, bool Strict, DateTimeOffset CreatedAt, DateTimeOffset UpdatedAt)
{
    public static TemplateResponse Of(StoredTemplate t) => new(
        t.Name, t.Version, t.Definition.Subject, t.Definition.Text, t.Definition.Html, t.Definition.Strict, t.CreatedAt, t.VersionCreatedAt);
}

/// <summary>GET /api/templates: the latest version of each of your templates, by name.</summary>
public sealed record TemplateListResponse(IReadOnlyList<TemplateResponse> Items);

/// <summary>A rendering (preview): what an email sent with these variables would contain.</summary>
public sealed record RenderedTemplateResponse(string Template, int Version, string Subject, string? Text, string? Html);
