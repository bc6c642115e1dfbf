using AkkaMail.Api.Auth;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Configuration;
using AkkaMail.Domain;
using AkkaMail.OutboundWebhooks;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AkkaMail.Api.OutboundWebhooks;

/// <summary>
/// <c>/api/webhooks/endpoints</c>: a user's outbound webhook endpoints, their secrets, their delivery logs, redelivery and
/// a test ping. Another user's endpoint answers 404 like one that does not exist (the owner-or-admin rule).
/// </summary>
public static class WebhookEndpointEndpoints
{
    public const int MaxTags = 10;
    public const int MaxTagLength = 128;
    public const int MaxDescriptionLength = 500;
    /// <summary>A ping is a group of its own (the worker orders deliveries per email): its "email id" starts with this.</summary>
    public const string PingGroupPrefix = "ping:";

    public static RouteGroupBuilder MapWebhookEndpointEndpoints(this RouteGroupBuilder api)
    {
        var group = api.MapGroup("/webhooks/endpoints");
        group.MapPost("", CreateAsync).WithName("CreateWebhookEndpoint").Accepts<WebhookEndpointRequest>("application/json")
            .ProducesProblem(StatusCodes.Status413PayloadTooLarge).ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Add an endpoint for outbound webhooks: url, eventTypes (the timeline's names; none = all), tags; its signing secret is shown once.");
        group.MapGet("", ListAsync).WithName("ListWebhookEndpoints").WithSummary("Your endpoints.");
        group.MapGet("/{id}", GetAsync).WithName("GetWebhookEndpoint").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("One endpoint (never its secret).");
        group.MapPut("/{id}", UpdateAsync).WithName("UpdateWebhookEndpoint").Accepts<WebhookEndpointRequest>("application/json")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Change an endpoint (fields left out keep their value); enabled=true re-enables a disabled one.");
        group.MapDelete("/{id}", DeleteAsync).WithName("DeleteWebhookEndpoint").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("Remove an endpoint and its deliveries.");
        group.MapPost("/{id}/secret/rotate", RotateAsync).WithName("RotateWebhookSecret").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("A new signing secret, shown once; the previous one keeps signing for the stated overlap.");
        group.MapGet("/{id}/deliveries", DeliveriesAsync).WithName("ListWebhookDeliveries").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("The endpoint's deliveries, newest first: status, attempts, last answer, next attempt; limit (≤ 200), cursor.");
        group.MapPost("/{id}/deliveries/{deliveryId}/redeliver", RedeliverOneAsync).WithName("RedeliverWebhookDelivery")
            .ProducesProblem(StatusCodes.Status404NotFound).WithSummary("Send one delivery again (a new series of attempts).");
        group.MapPost("/{id}/redeliver", RedeliverRangeAsync).WithName("RedeliverWebhookDeliveries").Accepts<RedeliverRequest>("application/json")
            .ProducesProblem(StatusCodes.Status404NotFound).ProducesProblem(StatusCodes.Status413PayloadTooLarge)
            .ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .WithSummary("Send again every delivery created in [from, to).");
        group.MapPost("/{id}/ping", PingAsync).WithName("PingWebhookEndpoint").ProducesProblem(StatusCodes.Status404NotFound)
            .ProducesProblem(StatusCodes.Status409Conflict)
            .WithSummary("Queue a signed test delivery of type ping (409 while the endpoint is disabled).");
        return api;
    }

    /// <summary>The endpoint, when the caller owns it (or is the admin); null otherwise, answered as not found.</summary>
    private static async Task<WebhookEndpoint?> OwnedAsync(string id, HttpContext http, IWebhookEndpointStore store)
    {
        if (id.Length > 100) return null;
        var endpoint = await store.GetAsync(id, http.RequestAborted);
        if (endpoint is null) return null;
        var authorization = http.RequestServices.GetRequiredService<IAuthorizationService>();
        return await authorization.AllowsAsync(http.User, endpoint.UserId) ? endpoint : null;
    }

    private static ProblemHttpResult NotFound(string id) => Problems.NotFound("webhook endpoint", id);

    /// <summary>The request's fields checked; for a PUT (<paramref name="current"/> set), absent ones keep its values.</summary>
    private static async Task<(WebhookEndpointRequest? Valid, ValidationProblem? Error)> ValidateAsync(
        WebhookEndpointRequest request, WebhookEndpoint? current, WebhookAddressGuard guard, CancellationToken ct)
    {
        var errors = new Dictionary<string, string[]>();
        var url = request.Url ?? current?.Url;
        if (request.Url is not null || current is null)
            if (await guard.RefusalAsync(url, ct) is { } refusal) errors["url"] = [refusal];
        var types = request.EventTypes ?? current?.EventTypes.ToArray() ?? [];
        if (types.Any(t => t is null || !EmailEventTypes.All.Contains(t, StringComparer.Ordinal)))
        {
            var unknown = types.First(t => t is null || !EmailEventTypes.All.Contains(t, StringComparer.Ordinal)) ?? "null";
            errors["eventTypes"] = [$"'{(unknown.Length > 40 ? unknown[..40] + "…" : unknown)}' is not an event type (one of {string.Join(", ", EmailEventTypes.All)})"];
        }
        var tags = request.Tags ?? current?.Tags.ToArray() ?? [];
        if (tags.Length > MaxTags || tags.Any(t => string.IsNullOrWhiteSpace(t) || t.Length > MaxTagLength))
            errors["tags"] = [$"at most {MaxTags} tags, each 1 to {MaxTagLength} characters"];
        var description = request.Description ?? current?.Description;
        if (description is { Length: > MaxDescriptionLength }) errors["description"] = [$"at most {MaxDescriptionLength} characters"];
        if (errors.Count > 0)
            return (null, TypedResults.ValidationProblem(errors, title: "The webhook endpoint is not valid", type: ProblemTypes.Validation));
        return (new WebhookEndpointRequest(url, types.Distinct().ToArray(), tags.Select(t => t!.Trim()).Distinct().ToArray(),
            request.Enabled ?? current?.Enabled ?? true, description), null);
    }

    private static async Task<Results<Created<CreatedWebhookEndpointResponse>, ValidationProblem, ProblemHttpResult>> CreateAsync(
        HttpContext http, IWebhookEndpointStore store, WebhookAddressGuard guard, WebhookSecretProtector protector,
        WebhookEndpointCache cache, TimeProvider clock)
    {
        var (request, bodyError) = await JsonBody.ReadAsync<WebhookEndpointRequest>(http);
        if (bodyError is not null) return bodyError;
        var (valid, invalid) = await ValidateAsync(request!, null, guard, http.RequestAborted);
        if (invalid is not null) return invalid;
        var now = clock.GetUtcNow();
        var secret = StandardWebhooks.NewSecret();
        var endpoint = new WebhookEndpoint(WebhookEndpoint.NewId(), http.User.UserId(), valid!.Url!, valid.EventTypes!, valid.Tags!,
            valid.Enabled!.Value, null, [new WebhookSecret(protector.Protect(secret), null)], 0, now, now, valid.Description);
        await store.CreateAsync(endpoint, http.RequestAborted);
        cache.Invalidate();
        return TypedResults.Created($"/api/webhooks/endpoints/{endpoint.Id}", new CreatedWebhookEndpointResponse(
            endpoint.Id, endpoint.Url, endpoint.EventTypes, endpoint.Tags, endpoint.Enabled, endpoint.Description, endpoint.CreatedAt, secret));
    }

    private static async Task<Ok<WebhookEndpointListResponse>> ListAsync(HttpContext http, IWebhookEndpointStore store, TimeProvider clock)
    {
        var now = clock.GetUtcNow();
        var mine = await store.ListAsync(http.User.UserId(), http.RequestAborted);
        return TypedResults.Ok(new WebhookEndpointListResponse(mine.Select(e => WebhookEndpointResponse.Of(e, now)).ToArray()));
    }

    private static async Task<Results<Ok<WebhookEndpointResponse>, ProblemHttpResult>> GetAsync(
        string id, HttpContext http, IWebhookEndpointStore store, TimeProvider clock) =>
        await OwnedAsync(id, http, store) is { } endpoint
            ? TypedResults.Ok(WebhookEndpointResponse.Of(endpoint, clock.GetUtcNow()))
            : NotFound(id);

    private static async Task<Results<Ok<WebhookEndpointResponse>, ValidationProblem, ProblemHttpResult>> UpdateAsync(
        string id, HttpContext http, IWebhookEndpointStore store, WebhookAddressGuard guard, WebhookEndpointCache cache,
        WebhookWorkerSignal worker, TimeProvider clock)
    {
        if (await OwnedAsync(id, http, store) is not { } current) return NotFound(id);
        var (request, bodyError) = await JsonBody.ReadAsync<WebhookEndpointRequest>(http);
        if (bodyError is not null) return bodyError;
        var (valid, invalid) = await ValidateAsync(request!, current, guard, http.RequestAborted);
        if (invalid is not null) return invalid;
        var enabling = valid!.Enabled!.Value && !current.Enabled;
        var updated = current with
        {
            Url = valid.Url!, EventTypes = valid.EventTypes!, Tags = valid.Tags!, Enabled = valid.Enabled.Value, Description = valid.Description,
            // Re-enabled by its user: a fresh start, and the deliveries that waited go out.
            DisabledReason = valid.Enabled.Value ? null : current.DisabledReason ?? "disabled by its user",
            ConsecutiveFailures = enabling ? 0 : current.ConsecutiveFailures,
            UpdatedAt = clock.GetUtcNow(),
        };
        if (!await store.UpdateAsync(updated, http.RequestAborted)) return NotFound(id);
        cache.Invalidate();
        if (enabling) worker.Wake();
        return TypedResults.Ok(WebhookEndpointResponse.Of(updated, clock.GetUtcNow()));
    }

    private static async Task<Results<NoContent, ProblemHttpResult>> DeleteAsync(
        string id, HttpContext http, IWebhookEndpointStore store, WebhookEndpointCache cache)
    {
        if (await OwnedAsync(id, http, store) is null || !await store.DeleteAsync(id, http.RequestAborted)) return NotFound(id);
        cache.Invalidate();
        return TypedResults.NoContent();
    }

    private static async Task<Results<Ok<RotatedSecretResponse>, ProblemHttpResult>> RotateAsync(
        string id, HttpContext http, IWebhookEndpointStore store, WebhookSecretProtector protector, WebhookEndpointCache cache,
        AkkaMailSettings settings, TimeProvider clock)
    {
        if (await OwnedAsync(id, http, store) is not { } current) return NotFound(id);
        var now = clock.GetUtcNow();
        var overlap = settings.OutboundWebhooks.RotationOverlap;
        var secret = StandardWebhooks.NewSecret();
        // The current secret keeps signing for the overlap; secrets already rotated out keep their own expiry.
        var kept = current.SigningSecrets(now)
            .Select(s => s.ExpiresAt is null ? s with { ExpiresAt = now + overlap } : s)
            .Where(s => s.ExpiresAt > now);
        var updated = current with { Secrets = [new WebhookSecret(protector.Protect(secret), null), .. kept], UpdatedAt = now };
        if (!await store.UpdateAsync(updated, http.RequestAborted)) return NotFound(id);
        cache.Invalidate();
        return TypedResults.Ok(new RotatedSecretResponse(secret, updated.Secrets.Max(s => s.ExpiresAt)));
    }

    private static async Task<Results<Ok<WebhookDeliveryListResponse>, ValidationProblem, ProblemHttpResult>> DeliveriesAsync(
        string id, HttpContext http, IWebhookEndpointStore store, IWebhookDeliveryStore deliveries, int? limit, string? cursor)
    {
        var n = limit ?? 50;
        if (n is < 1 or > 200) return Problems.Validation("limit", "between 1 and 200");
        if (cursor is { Length: > 400 }) return Problems.Validation("cursor", "is not a cursor we gave");
        if (await OwnedAsync(id, http, store) is null) return NotFound(id);
        var items = await deliveries.ListAsync(id, n + 1, cursor, http.RequestAborted);
        var more = items.Count > n;
        var page = more ? items.Take(n).ToList() : items;
        return TypedResults.Ok(new WebhookDeliveryListResponse(page.Select(WebhookDeliveryResponse.Of).ToArray(), more ? page[^1].Id : null));
    }

    private static async Task<Results<Accepted<RedeliveryResponse>, ProblemHttpResult>> RedeliverOneAsync(
        string id, string deliveryId, HttpContext http, IWebhookEndpointStore store, IWebhookDeliveryStore deliveries,
        WebhookWorkerSignal worker, TimeProvider clock)
    {
        if (await OwnedAsync(id, http, store) is null) return NotFound(id);
        var requeued = deliveryId.Length <= 400 ? await deliveries.RequeueAsync(id, deliveryId, null, null, clock.GetUtcNow(), http.RequestAborted) : 0;
        if (requeued == 0) return Problems.NotFound("delivery", deliveryId);
        worker.Wake();
        return TypedResults.Accepted($"/api/webhooks/endpoints/{id}/deliveries", new RedeliveryResponse(requeued));
    }

    private static async Task<Results<Accepted<RedeliveryResponse>, ValidationProblem, ProblemHttpResult>> RedeliverRangeAsync(
        string id, HttpContext http, IWebhookEndpointStore store, IWebhookDeliveryStore deliveries, WebhookWorkerSignal worker,
        TimeProvider clock)
    {
        if (await OwnedAsync(id, http, store) is null) return NotFound(id);
        var (request, bodyError) = await JsonBody.ReadAsync<RedeliverRequest>(http);
        if (bodyError is not null) return bodyError;
        if (request!.From is null || request.To is null) return Problems.Validation("from", "from and to are both required");
        if (request.To <= request.From) return Problems.Validation("to", "must be after from");
        var requeued = await deliveries.RequeueAsync(id, null, request.From, request.To, clock.GetUtcNow(), http.RequestAborted);
        if (requeued > 0) worker.Wake();
        return TypedResults.Accepted($"/api/webhooks/endpoints/{id}/deliveries", new RedeliveryResponse(requeued));
    }

    private static async Task<Results<Accepted<WebhookDeliveryResponse>, ProblemHttpResult>> PingAsync(
        string id, HttpContext http, IWebhookEndpointStore store, IWebhookDeliveryStore deliveries, WebhookWorkerSignal worker,
        TimeProvider clock)
    {
        if (await OwnedAsync(id, http, store) is not { } endpoint) return NotFound(id);
        if (!endpoint.Enabled)
            return TypedResults.Problem(statusCode: 409, title: "Conflict", type: ProblemTypes.Conflict,
                detail: "The endpoint is disabled: enable it (PUT with enabled=true) first.");
        var now = clock.GetUtcNow();
        var pingId = "ping_" + Guid.NewGuid().ToString("N");
        var delivery = new WebhookDelivery($"{id}.{pingId}", id, PingGroupPrefix + pingId, 0, pingId, WebhookPayload.PingType,
            WebhookPayload.Ping(id, now), now);
        await deliveries.AddAsync(delivery, http.RequestAborted);
        worker.Wake();
        return TypedResults.Accepted($"/api/webhooks/endpoints/{id}/deliveries", WebhookDeliveryResponse.Of(delivery));
    }
}
