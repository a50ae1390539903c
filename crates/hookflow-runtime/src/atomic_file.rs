//! Writing a file whole or not at all: the bytes go to a hidden temporary file beside it, which
//! is synced and renamed over the target, so that a reader (or a crash) sees the old content or
//! the new one, never a part. The temporary name does not end in `.json`, so a reader of flow
//! files never takes it for a flow.
//!
//! Blocks: call it from `spawn_blocking` on an async thread.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Replaces `path` with `bytes` atomically (creating it when missing).
pub fn write(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_with(path, bytes, &std::fs::OpenOptions::new())
}

/// [`write`] for a file of the data directory: readable by its owner only (`0600` on Unix).
pub fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, hookflow_store::private::FILE_MODE);
    write_with(path, bytes, &options)
}

fn write_with(path: &Path, bytes: &[u8], options: &std::fs::OpenOptions) -> std::io::Result<()> {
    let temp = temp_path(path)?;
    let mut options = options.clone();
    options.write(true).create(true).truncate(true);
    let written = options.open(&temp).and_then(|mut file| {
        file.write_all(bytes)?;
        file.sync_all()
    });
    let renamed = written.and_then(|()| std::fs::rename(&temp, path));
    if let Err(e) = renamed {
        let _ = std::fs::remove_file(&temp);
        return Err(e);
    }
    sync_parent(path);
    Ok(())
}

/// `.<name>.<pid>.tmp` in the same directory (a rename does not cross file systems).
fn temp_path(path: &Path) -> std::io::Result<PathBuf> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the path has no file name")
    })?;
    Ok(path.with_file_name(format!(".{name}.{}.tmp", std::process::id())))
}

/// Syncs the directory so that the rename itself survives a crash (Unix; best effort).
fn sync_parent(path: &Path) {
    #[cfg(unix)]
    if let Some(dir) =
        path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p })
        && let Ok(dir) = std::fs::File::open(dir)
    {
        let _ = dir.sync_all();
    }
    #[cfg(not(unix))]
    let _ = path;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(unix)]
    #[test]
    fn a_private_file_is_its_owners_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("private.json");
        std::fs::write(&path, "old").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_private(&path, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn replaces_the_content_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.json");
        write(&path, b"one").unwrap();
        write(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["a.json"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("a.json");
        assert!(write(&missing, b"x").is_err());
        assert!(!missing.exists());
    }
}
