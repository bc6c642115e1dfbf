using AkkaMail.Api.Auth;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Templates;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AkkaMail.Api.Templates;

/// <summary>Stored Liquid templates, per user, versioned: CRUD and a render preview. Your own templates only.</summary>
public static class TemplateEndpoints
{
    /// <summary>Two bodies of the largest size and their JSON escaping.</summary>
    public const long MaxBodyBytes = 2 * 1024 * 1024;
    public const int MaxListLimit = 500;

    public static RouteGroupBuilder MapTemplateEndpoints(this RouteGroupBuilder api)
    {
        static RouteHandlerBuilder WithBody<T>(RouteHandlerBuilder b) where T : notnull => b.WithMetadata(new RequestSizeLimitMetadata(MaxBodyBytes))
            .Accepts<T>("application/json").ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType);
        WithBody<TemplateRequest>(api.MapPost("/templates", CreateAsync)).WithName("CreateTemplate").ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Store a Liquid template (subject, text, html): version 1. 400 names each syntax error with its line and column; 409 if the name is taken.");
        api.MapGet("/templates", ListAsync).WithName("ListTemplates")
            .WithSummary("Your templates (their latest versions), by name; `limit` (≤ 500).");
        api.MapGet("/templates/{name}", GetAsync).WithName("GetTemplate").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("A template: its latest version, or `version`.");
        WithBody<TemplateRequest>(api.MapPut("/templates/{name}", UpdateAsync)).WithName("UpdateTemplate").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Change a template: stores its next version (emails keep what they were rendered with).");
        api.MapDelete("/templates/{name}", DeleteAsync).WithName("DeleteTemplate").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Delete a template. Creating the name again goes on with the next version number.");
        WithBody<RenderTemplateRequest>(api.MapPost("/templates/{name}/render", RenderAsync)).WithName("RenderTemplate").ProducesProblem(StatusCodes.Status404NotFound)
            .RequireRateLimiting(RateLimits.SendPolicy).ProducesProblem(StatusCodes.Status429TooManyRequests)
            .WithSummary("Preview: render a template (latest or `version`) with `variables`; nothing is sent. 400 names a missing variable (strict) or a limit.");
        return api;
    }

    private static async Task<Results<Created<TemplateResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        HttpContext http, ITemplateStore store, TemplateRenderer renderer, TimeProvider clock)
    {
        var (request, error) = await JsonBody.ReadAsync<TemplateRequest>(http);
        if (error is not null) return error;
        var problems = new List<TemplateProblem>();
        if (TemplateRenderer.NameProblem(request!.Name) is { } nameProblem) problems.Add(new("name", nameProblem));
        var definition = Definition(request);
        problems.AddRange(renderer.Check(definition));
        if (problems.Count > 0) return Invalid(problems);
        var created = await store.CreateAsync(http.User.UserId(), request.Name!, definition, clock.GetUtcNow(), http.RequestAborted);
        return created is null
            ? TypedResults.Problem(statusCode: 409, title: "Template exists", type: ProblemTypes.Conflict,
                detail: $"You have a template named '{request.Name}': PUT /api/templates/{request.Name} stores its next version.")
            : TypedResults.Created($"/api/templates/{created.Name}", TemplateResponse.Of(created));
    }

    private static async Task<Results<Ok<TemplateListResponse>, ValidationProblem>> ListAsync(HttpContext http, ITemplateStore store, int? limit)
    {
        var n = limit ?? 100;
        if (n is < 1 or > MaxListLimit) return Problems.Validation("limit", $"between 1 and {MaxListLimit}");
        var items = await store.ListAsync(http.User.UserId(), n, http.RequestAborted);
        return TypedResults.Ok(new TemplateListResponse(items.Select(TemplateResponse.Of).ToArray()));
    }

    private static async Task<Results<Ok<TemplateResponse>, ValidationProblem, ProblemHttpResult>> GetAsync(
        string name, HttpContext http, ITemplateStore store, int? version)
    {
        if (version is < 1) return Problems.Validation("version", "at least 1");
        return await FindAsync(name, version, http, store) is { } t ? TypedResults.Ok(TemplateResponse.Of(t)) : NotFound(name, version);
    }

    private static async Task<Results<Ok<TemplateResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        string name, HttpContext http, ITemplateStore store, TemplateRenderer renderer, TimeProvider clock)
    {
        var (request, error) = await JsonBody.ReadAsync<TemplateRequest>(http);
        if (error is not null) return error;
        if (request!.Name is not null && request.Name != name) return Problems.Validation("name", "is the path's: a template is not renamed");
        var definition = Definition(request);
        var problems = renderer.Check(definition);
        if (problems.Count > 0) return Invalid(problems);
        var added = TemplateRenderer.NameProblem(name) is null
            ? await store.AddVersionAsync(http.User.UserId(), name, definition, clock.GetUtcNow(), http.RequestAborted)
            : null;
        return added is null ? NotFound(name, null) : TypedResults.Ok(TemplateResponse.Of(added));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(string name, HttpContext http, ITemplateStore store) =>
        TemplateRenderer.NameProblem(name) is null && await store.DeleteAsync(http.User.UserId(), name, http.RequestAborted)
            ? TypedResults.NoContent()
            : NotFound(name, null);

    private static async Task<Results<Ok<RenderedTemplateResponse>, ValidationProblem, ProblemHttpResult>> RenderAsync(
        string name, HttpContext http, ITemplateStore store, TemplateRenderer renderer)
    {
        var (request, error) = await JsonBody.ReadAsync<RenderTemplateRequest>(http);
        if (error is not null) return error;
        if (request!.Version is < 1) return Problems.Validation("version", "at least 1");
        if (await FindAsync(name, request.Version, http, store) is not { } template) return NotFound(name, request.Version);
        return await renderer.RenderAsync(template.Definition, request.Variables, ct: http.RequestAborted) switch
        {
            RenderResult.Rendered r => TypedResults.Ok(new RenderedTemplateResponse(template.Name, template.Version, r.Subject, r.Text, r.Html)),
            RenderResult.Refused refused => Invalid(refused.Problems),
            _ => throw new InvalidOperationException("unknown render result"),
        };
    }

    private static async Task<StoredTemplate?> FindAsync(string name, int? version, HttpContext http, ITemplateStore store) =>
        TemplateRenderer.NameProblem(name) is null ? await store.GetAsync(http.User.UserId(), name, version, http.RequestAborted) : null;

    private static TemplateDefinition Definition(TemplateRequest r) => new(r.Subject ?? "", r.Text, r.Html, r.Strict ?? true);

    private static ProblemHttpResult NotFound(string name, int? version) => version is null
        ? Problems.NotFound("template", name)
        : TypedResults.Problem(statusCode: 404, title: "Not found", type: ProblemTypes.NotFound,
            detail: $"No version {version} of a template named '{(name.Length > 64 ? name[..64] + "…" : name)}'.");

    /// <summary>400 naming each bad field (<c>errors</c>, as every validation problem); <c>problems</c> repeats them with
    /// the line and column of a syntax error, for tools.</summary>
    public static ValidationProblem Invalid(IReadOnlyList<TemplateProblem> problems) =>
        TypedResults.ValidationProblem(
            problems.GroupBy(p => p.Field).ToDictionary(g => g.Key, g => g.Select(p => p.Message).ToArray()),
            title: "The template or its variables are not valid", type: ProblemTypes.Validation,
            extensions: new Dictionary<string, object?>
            {
                ["problems"] = problems.Select(p => new { field = p.Field, message = p.Message, line = p.Line, column = p.Column }).ToArray(),
            });
}
