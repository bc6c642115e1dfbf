namespace AkkaMail.Hosting;

/// <summary>
/// The data folder holds the journal, the read model, API key hashes, outgoing mail and the admin key: only the
/// service's user may read it. Folders are created 0700 and files 0600 with their mode from the start (no window
/// between creating and chmod-ing), whatever the process umask. On Windows the defaults (the user's ACLs) apply.
/// </summary>
public static class PrivateFiles
{
    public const UnixFileMode DirectoryMode = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;
    public const UnixFileMode FileMode = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>Creates <paramref name="path"/> (and missing parents) 0700; an existing folder is left as it is.</summary>
    public static void CreateDirectory(string path)
    {
        if (OperatingSystem.IsWindows()) Directory.CreateDirectory(path);
        else Directory.CreateDirectory(path, DirectoryMode);
    }

    /// <summary>Creates an empty <paramref name="path"/> 0600 unless it exists: before SQLite opens a database, which
    /// it would create with the umask's mode (its -wal and -shm files take the database file's mode).</summary>
    public static void EnsureFile(string path)
    {
        if (File.Exists(path)) return;
        try
        {
            using var _ = Open(path, System.IO.FileMode.CreateNew, FileAccess.Write);
        }
        catch (IOException) when (File.Exists(path)) { } // created meanwhile
    }

    /// <summary>A file stream whose file, when created, is 0600 from the start.</summary>
    public static FileStream Open(string path, System.IO.FileMode mode, FileAccess access, FileShare share = FileShare.Read)
    {
        var options = new FileStreamOptions { Mode = mode, Access = access, Share = share };
        if (!OperatingSystem.IsWindows() && mode != System.IO.FileMode.Open && mode != System.IO.FileMode.Truncate) options.UnixCreateMode = FileMode;
        return new FileStream(path, options);
    }
}
