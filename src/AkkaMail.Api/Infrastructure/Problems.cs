using System.Text.Json;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Http.Metadata;

namespace AkkaMail.Api.Infrastructure;

public static class Problems
{
    public static ProblemHttpResult NotFound(string what, string id) =>
        TypedResults.Problem(statusCode: 404, title: "Not found", type: ProblemTypes.NotFound,
            detail: $"No {what} with id '{(id.Length > 64 ? id[..64] + "…" : id)}'.");

    public static ProblemHttpResult Forbidden(string detail) =>
        TypedResults.Problem(statusCode: 403, title: "Forbidden", type: ProblemTypes.Forbidden, detail: detail);

    public static ValidationProblem Validation(string field, string message) =>
        TypedResults.ValidationProblem(new Dictionary<string, string[]> { [field] = new[] { message } },
            title: "The request is not valid", type: ProblemTypes.Validation);
}

/// <summary>Reads a JSON body ourselves, so that every malformed body is a clear 400 (never a 500).</summary>
public static class JsonBody
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web) { MaxDepth = 16 };

    public static async Task<(T? Value, ProblemHttpResult? Error)> ReadAsync<T>(HttpContext http) where T : class
    {
        if (http.Request.ContentType is not { } ct || !ct.StartsWith("application/json", StringComparison.OrdinalIgnoreCase))
            return (null, TypedResults.Problem(statusCode: 415, title: "Unsupported media type", type: ProblemTypes.UnsupportedMediaType,
                detail: "Send JSON (Content-Type: application/json)."));
        try
        {
            var value = await JsonSerializer.DeserializeAsync<T>(http.Request.Body, Options, http.RequestAborted);
            return value is null
                ? (null, Malformed("The body must be a JSON object."))
                : (value, null);
        }
        catch (JsonException ex)
        {
            return (null, Malformed($"The body is not the JSON we expect{(ex.Path is { } p ? $" (at {p})" : "")}: {ex.Message.Split('\n')[0]}"));
        }
        catch (BadHttpRequestException ex)
        {
            return (null, TypedResults.Problem(statusCode: ex.StatusCode, title: "Bad request",
                type: ex.StatusCode == 413 ? ProblemTypes.PayloadTooLarge : ProblemTypes.MalformedJson, detail: ex.Message));
        }
    }

    public static ProblemHttpResult Malformed(string detail) =>
        TypedResults.Problem(statusCode: 400, title: "Malformed JSON", type: ProblemTypes.MalformedJson, detail: detail);
}

/// <summary>A per-endpoint body size limit, read by Kestrel: bodies above it answer 413.</summary>
public sealed class RequestSizeLimitMetadata(long max) : IRequestSizeLimitMetadata
{
    public long? MaxRequestBodySize => max;
}
