using AkkaMail.Api.Auth;
using AkkaMail.Api.Emails;
using AkkaMail.Api.Infrastructure;
using AkkaMail.Erasure;
using AkkaMail.ReadModel;
using AkkaMail.Suppressions;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AkkaMail.Api.Erasure;

/// <summary>
/// Erasure of an address (GDPR-style): every email to or from it is removed whole — journal, snapshots, read model,
/// outbox — by the erasure worker (<see cref="Actors.ErasureActor"/>); its suppressions are kept as a hash. The request
/// is recorded (without the address) and its progress readable. The admin's covers every user, a user's their own.
/// </summary>
public static class ErasureEndpoints
{
    /// <summary>Emails read from the read model per query while finding an address's emails.</summary>
    private const int FindPage = 500;

    /// <summary>How long a request waits for the read model to catch up with the journal before it answers 503.</summary>
    private static readonly TimeSpan CatchUpWait = TimeSpan.FromSeconds(10);

    public static RouteGroupBuilder MapErasureEndpoints(this RouteGroupBuilder api)
    {
        api.MapPost("/erasure", RequestAsync).WithName("RequestErasure")
            .Accepts<ErasureRequest>("application/json").ProducesProblem(StatusCodes.Status415UnsupportedMediaType)
            .ProducesProblem(StatusCodes.Status403Forbidden).ProducesProblem(StatusCodes.Status503ServiceUnavailable)
            .WithSummary("Erase an address: every email of yours (the admin: of every user, or of `userId`) to or from it is removed " +
                "whole (unsent ones cancelled first, removed once settled); a suppression of it stays, as a hash. 202 with the request's progress.");
        api.MapGet("/erasure/{id}", GetAsync).WithName("GetErasure").ProducesProblem(StatusCodes.Status404NotFound)
            .WithSummary("An erasure request's progress: emails found, erased, pending.");
        return api;
    }

    private static async Task<Results<Accepted<ErasureResponse>, ValidationProblem, ProblemHttpResult>> RequestAsync(
        HttpContext http, IEmailReadStore emails, ISuppressionStore suppressions, IErasureStore records, TimeProvider clock,
        Projections.ProjectionProgress readSide, Projections.JournalHead head)
    {
        var (request, error) = await JsonBody.ReadAsync<ErasureRequest>(http);
        if (error is not null) return error;
        if (!EmailValidation.IsAddress(request!.Address)) return Problems.Validation("address", "an email address (a@example.com)");
        string? userId;
        if (http.User.IsAdmin()) userId = string.IsNullOrEmpty(request.UserId) ? null : request.UserId;
        else if (request.UserId is null || request.UserId == http.User.UserId()) userId = http.User.UserId();
        else return Problems.Forbidden("A user may erase an address from their own emails only.");
        var address = Domain.Addresses.Normalize(request.Address!);
        var ct = http.RequestAborted;
        // Emails accepted just before must be found: the read model first catches up with the journal as it is now.
        try { await Hosting.AkkaMailHosting.CaughtUpWithStartAsync(readSide, head).WaitAsync(CatchUpWait, ct); }
        catch (TimeoutException)
        {
            return TypedResults.Problem(statusCode: 503, title: "Read model behind", type: ProblemTypes.Unavailable,
                detail: "The read model is behind the journal: nothing was erased; try again in a moment.");
        }

        var found = new List<string>();
        string? after = null;
        do
        {
            var page = await emails.FindByAddressAsync(userId, address, after, FindPage, ct);
            found.AddRange(page.Ids);
            after = page.Next;
        } while (after is not null);
        var hashed = await suppressions.HashAsync(userId, address, ct);
        var now = clock.GetUtcNow();
        var record = new ErasureRecord("era_" + Guid.NewGuid().ToString("N"), userId, http.User.UserId(),
            AddressHashes.Of(userId ?? "", address), now, found.Count, 0, found, hashed, found.Count == 0 ? now : null);
        await records.SaveAsync(record, ct);
        return TypedResults.Accepted($"/api/erasure/{record.Id}", ErasureResponse.Of(record));
    }

    private static async Task<Results<Ok<ErasureResponse>, ProblemHttpResult>> GetAsync(
        string id, HttpContext http, IErasureStore records, IAuthorizationService authorization)
    {
        var record = id.Length <= 64 ? await records.GetAsync(id, http.RequestAborted) : null;
        // Someone else's (or, for a user, an every-user request) answers as if it did not exist.
        var allowed = record is not null && (record.UserId is { } owner
            ? await authorization.AllowsAsync(http.User, owner)
            : http.User.IsAdmin());
        return allowed ? TypedResults.Ok(ErasureResponse.Of(record!)) : Problems.NotFound("erasure", id);
    }
}
