using AkkaMail.Templates;
using MongoDB.Bson;
using MongoDB.Driver;

namespace AkkaMail.Stores.MongoDb;

/// <summary>
/// Templates in MongoDB: <c>templates</c> <c>{_id: "user/name", UserId, Name, LastVersion, CreatedAt, Deleted}</c> and
/// <c>template_versions</c> <c>{_id: "user/name/version", UserId, Name, Version, Subject, Text, Html, Strict, CreatedAt}</c>.
/// A version number is taken by an atomic <c>$inc</c> on the template's document before its version is written, so two
/// concurrent updates never share a number; a crash between the two leaves a number unused, and the latest version is
/// the highest one written.
/// </summary>
public sealed class MongoTemplateStore(IMongoDatabase database) : ITemplateStore
{
    public const string TemplatesCollection = "templates";
    public const string VersionsCollection = "template_versions";

    private readonly IMongoCollection<BsonDocument> _templates = database.GetCollection<BsonDocument>(TemplatesCollection);
    private readonly IMongoCollection<BsonDocument> _versions = database.GetCollection<BsonDocument>(VersionsCollection);

    public async Task InitializeAsync(CancellationToken ct = default)
    {
        await _templates.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(
            new BsonDocument { { "UserId", 1 }, { "Name", 1 } }, new CreateIndexOptions { Name = "UserId_Name" }), cancellationToken: ct);
        await _versions.Indexes.CreateOneAsync(new CreateIndexModel<BsonDocument>(
            new BsonDocument { { "UserId", 1 }, { "Name", 1 }, { "Version", -1 } }, new CreateIndexOptions { Name = "UserId_Name_Version" }), cancellationToken: ct);
    }

    private static string Key(string userId, string name) => $"{userId}/{name}";

    private static readonly FindOneAndUpdateOptions<BsonDocument> After = new() { ReturnDocument = ReturnDocument.After };

    public async Task<StoredTemplate?> CreateAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default)
    {
        var key = Key(userId, name);
        // A deleted template of that name comes back with the next version number.
        var revived = await _templates.FindOneAndUpdateAsync(
            new BsonDocument { { "_id", key }, { "Deleted", true } },
            new BsonDocument { { "$inc", new BsonDocument("LastVersion", 1) },
                { "$set", new BsonDocument { { "Deleted", false }, { "CreatedAt", EmailDocumentMapper.Date(at) } } } },
            After, ct);
        if (revived is null)
        {
            try
            {
                await _templates.InsertOneAsync(new BsonDocument
                {
                    { "_id", key }, { "UserId", userId }, { "Name", name }, { "LastVersion", 1 },
                    { "CreatedAt", EmailDocumentMapper.Date(at) }, { "Deleted", false },
                }, cancellationToken: ct);
            }
            catch (MongoWriteException e) when (e.WriteError.Category == ServerErrorCategory.DuplicateKey)
            {
                return null;
            }
            return await WriteVersionAsync(userId, name, 1, definition, at, at, ct);
        }
        return await WriteVersionAsync(userId, name, revived["LastVersion"].ToInt32(), definition,
            EmailDocumentMapper.ToDate(revived["CreatedAt"]), at, ct);
    }

    public async Task<StoredTemplate?> AddVersionAsync(string userId, string name, TemplateDefinition definition, DateTimeOffset at, CancellationToken ct = default)
    {
        var template = await _templates.FindOneAndUpdateAsync(
            new BsonDocument { { "_id", Key(userId, name) }, { "Deleted", false } },
            new BsonDocument("$inc", new BsonDocument("LastVersion", 1)), After, ct);
        return template is null ? null : await WriteVersionAsync(userId, name, template["LastVersion"].ToInt32(), definition,
            EmailDocumentMapper.ToDate(template["CreatedAt"]), at, ct);
    }

    private async Task<StoredTemplate> WriteVersionAsync(string userId, string name, int version, TemplateDefinition d,
        DateTimeOffset createdAt, DateTimeOffset at, CancellationToken ct)
    {
        await _versions.InsertOneAsync(new BsonDocument
        {
            { "_id", $"{Key(userId, name)}/{version}" }, { "UserId", userId }, { "Name", name }, { "Version", version },
            { "Subject", d.Subject }, { "Text", d.Text is null ? BsonNull.Value : d.Text }, { "Html", d.Html is null ? BsonNull.Value : d.Html },
            { "Strict", d.Strict }, { "CreatedAt", EmailDocumentMapper.Date(at) },
        }, cancellationToken: ct);
        return new StoredTemplate(name, version, d, EmailDocumentMapper.ToDate(EmailDocumentMapper.Date(createdAt)),
            EmailDocumentMapper.ToDate(EmailDocumentMapper.Date(at)));
    }

    public async Task<StoredTemplate?> GetAsync(string userId, string name, int? version = null, CancellationToken ct = default)
    {
        var template = await _templates.Find(new BsonDocument { { "_id", Key(userId, name) }, { "Deleted", false } }).FirstOrDefaultAsync(ct);
        return template is null ? null : await VersionOfAsync(template, version, ct);
    }

    private async Task<StoredTemplate?> VersionOfAsync(BsonDocument template, int? version, CancellationToken ct)
    {
        var filter = new BsonDocument { { "UserId", template["UserId"] }, { "Name", template["Name"] } };
        if (version is { } v) filter["Version"] = v;
        var d = await _versions.Find(filter).Sort(new BsonDocument("Version", -1)).Limit(1).FirstOrDefaultAsync(ct);
        return d is null ? null : new StoredTemplate(
            d["Name"].AsString, d["Version"].ToInt32(),
            new TemplateDefinition(d["Subject"].AsString, d["Text"].IsBsonNull ? null : d["Text"].AsString,
                d["Html"].IsBsonNull ? null : d["Html"].AsString, d["Strict"].AsBoolean),
            EmailDocumentMapper.ToDate(template["CreatedAt"]), EmailDocumentMapper.ToDate(d["CreatedAt"]));
    }

    public async Task<IReadOnlyList<StoredTemplate>> ListAsync(string userId, int limit, CancellationToken ct = default)
    {
        var templates = await _templates.Find(new BsonDocument { { "UserId", userId }, { "Deleted", false } })
            .Sort(new BsonDocument("Name", 1)).Limit(limit).ToListAsync(ct);
        var list = new List<StoredTemplate>(templates.Count);
        foreach (var t in templates)
            if (await VersionOfAsync(t, null, ct) is { } latest) list.Add(latest);
        return list;
    }

    public async Task<bool> DeleteAsync(string userId, string name, CancellationToken ct = default)
    {
        var result = await _templates.UpdateOneAsync(new BsonDocument { { "_id", Key(userId, name) }, { "Deleted", false } },
            new BsonDocument("$set", new BsonDocument("Deleted", true)), cancellationToken: ct);
        return result.ModifiedCount == 1;
    }
}
