namespace AkkaMail.Templates;

/// <summary>A template's Liquid sources (subject, text, html) and whether a missing variable is an error.</summary>
public sealed record TemplateDefinition(string Subject, string? Text, string? Html, bool Strict);

/// <summary>One version of a user's template. Versions are never changed: an update adds the next one.</summary>
public sealed record StoredTemplate(
    string Name, int Version, TemplateDefinition Definition, DateTimeOffset CreatedAt, DateTimeOffset VersionCreatedAt);

/// <summary>
/// Stored templates, per user, with versions (1, 2, …). A deleted template's name can be created again: its versions
/// go on from the last one, so a (name, version) an email recorded never names two different contents.
/// </summary>
public interface ITemplateStore
{
    Task InitializeAsync(CancellationToken ct = default);

    /// <summary>Creates the template (its first version, or the next after a deletion); null if the user has a live
    /// template of that name.</summary>
    Task<StoredTemplate?> CreateAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>Adds the next version; null if the user has no live template of that name.</summary>
    Task<StoredTemplate?> AddVersionAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default);

    /// <summary>The given version (the latest when null) of a live template; null if there is none.</summary>
    Task<StoredTemplate?> GetAsync(string userId, string name, int? version = null, CancellationToken ct = default);

    /// <summary>The latest version of each live template of the user, by name (ordinal), at most <paramref name="limit"/>.</summary>
    Task<IReadOnlyList<StoredTemplate>> ListAsync(string userId, int limit, CancellationToken ct = default);

    /// <summary>Deletes the template (every version stays stored, out of reach); false if there was no live one.</summary>
    Task<bool> DeleteAsync(string userId, string name, CancellationToken ct = default);
}
