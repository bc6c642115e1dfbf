using System.Security.Claims;
using AkkaMail.Api.Auth;
using AkkaMail.ReadModel;
using Microsoft.AspNetCore.Authorization;

namespace AkkaMail.Api.Emails;

/// <summary>
/// Finds an email for a caller under the owner-or-admin rule (<see cref="OwnerOrAdminRequirement"/>): the REST routes,
/// the SSE stream and the hub all ask here, so none of them can show an email the rule would hide.
/// </summary>
public sealed class EmailAccess(IEmailReadStore store, IAuthorizationService authorization)
{
    /// <summary>No email id is longer: a longer one is not looked up.</summary>
    public const int MaxIdLength = 64;

    /// <summary>The email if it exists and <paramref name="caller"/> may see it; otherwise null (answered as 404).</summary>
    public async Task<EmailView?> FindAsync(ClaimsPrincipal caller, string id, CancellationToken ct)
    {
        var view = id.Length <= MaxIdLength ? await store.GetAsync(id, ct) : null;
        return view is not null && await authorization.AllowsAsync(caller, view.UserId) ? view : null;
    }
}
