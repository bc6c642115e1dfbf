using AkkaMail.Api.Auth;
using AkkaMail.Api.Emails;
using AkkaMail.ReadModel;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.SignalR;

namespace AkkaMail.Api.Realtime;

/// <summary>
/// <c>/hubs/emails</c>: pushes <c>emailStatus</c> messages (<see cref="EmailStatusMessage"/>) after every persisted
/// change of the emails a connection subscribed to. Authenticated with an API key (<c>access_token</c> in the
/// query string, since browsers cannot set headers on WebSockets). A user may watch only their own emails;
/// an admin may watch any email. Revoking the connection's key ends it at once (<see cref="KeyConnections"/>).
/// </summary>
[Authorize(AuthenticationSchemes = ApiKeyAuthenticationHandler.SchemeName)]
public sealed class EmailHub(EmailAccess emails, KeyConnections keys) : Hub
{
    public const string Path = "/hubs/emails";
    private const string KeyRegistration = "akkamail:key-registration";

    public override Task OnConnectedAsync()
    {
        // Revoking the key that opened the connection aborts it (the context outlives this transient hub instance).
        if (Context.User?.KeyId() is { } keyId)
            Context.Items[KeyRegistration] = keys.Register(Context.User!.UserId(), keyId, Context.Abort);
        return base.OnConnectedAsync();
    }

    public override Task OnDisconnectedAsync(Exception? exception)
    {
        if (Context.Items.TryGetValue(KeyRegistration, out var registration)) (registration as IDisposable)?.Dispose();
        return base.OnDisconnectedAsync(exception);
    }

    public static string EmailGroup(string emailId) => $"email:{emailId}";
    public static string UserGroup(string userId) => $"user:{userId}";

    /// <summary>
    /// Watches one email. Answers its current state (read after joining the group, so nothing between the two is
    /// lost; a push may repeat it, which <see cref="EmailStatusMessage.Version"/> tells).
    /// Refused with a <see cref="HubException"/> when there is no such email of the caller's.
    /// </summary>
    public async Task<EmailStatusMessage> SubscribeEmail(string emailId)
    {
        if (string.IsNullOrWhiteSpace(emailId) || await emails.FindAsync(Context.User!, emailId, Context.ConnectionAborted) is null)
            throw new HubException($"No email with id '{Truncate(emailId)}' of yours to watch.");
        await Groups.AddToGroupAsync(Context.ConnectionId, EmailGroup(emailId), Context.ConnectionAborted);
        var view = await emails.FindAsync(Context.User!, emailId, Context.ConnectionAborted);
        return Snapshot(view!);
    }

    public Task UnsubscribeEmail(string emailId) =>
        Groups.RemoveFromGroupAsync(Context.ConnectionId, EmailGroup(emailId ?? ""), Context.ConnectionAborted);

    /// <summary>Watches every email of the caller's, from now on (catch up on earlier ones through the REST API).</summary>
    public Task SubscribeAll() =>
        Groups.AddToGroupAsync(Context.ConnectionId, UserGroup(Context.User!.UserId()), Context.ConnectionAborted);

    public Task UnsubscribeAll() =>
        Groups.RemoveFromGroupAsync(Context.ConnectionId, UserGroup(Context.User!.UserId()), Context.ConnectionAborted);

    internal static EmailStatusMessage Snapshot(EmailView view)
    {
        var last = view.Timeline.Count > 0 ? view.Timeline[^1] : null;
        return new EmailStatusMessage(view.Id, view.Status, last?.Type ?? "accepted", last?.Recipient, view.UpdatedAt, view.Version);
    }

    private static string Truncate(string? s) => s is null ? "" : s.Length > 64 ? s[..64] : s;
}
