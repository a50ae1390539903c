//! Owner-only permissions for the data directory, which holds HMAC secrets: the directory and
//! every directory under it `0700`, every file `0600` when a store opens it (Unix; elsewhere the
//! platform's defaults). Files a backend adds later are inside the private directory.

use std::io;
use std::path::Path;

/// Creates `dir` (and its parents) if needed and makes it readable by its owner only.
pub fn create_dir(dir: &Path) -> io::Result<()> {
    std::fs::create_dir_all(dir)?;
    set_mode(dir, DIR_MODE)
}

/// Makes `path` readable by its owner only: a file `0600`; a directory `0700`, and everything
/// under it likewise.
pub fn restrict(path: &Path) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        set_mode(path, DIR_MODE)?;
        for entry in std::fs::read_dir(path)? {
            restrict(&entry?.path())?;
        }
        Ok(())
    } else if meta.is_file() {
        set_mode(path, FILE_MODE)
    } else {
        Ok(())
    }
}

/// The mode of a data directory.
pub const DIR_MODE: u32 = 0o700;
/// The mode of a file in it.
pub const FILE_MODE: u32 = 0o600;

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::*;
    use crate::StoreKind;

    fn mode(path: &Path) -> u32 {
        std::fs::metadata(path).unwrap().permissions().mode() & 0o777
    }

    /// Every directory and file under `path`, with `path` itself.
    fn tree(path: &Path, out: &mut Vec<std::path::PathBuf>) {
        out.push(path.to_path_buf());
        if path.is_dir() {
            for entry in std::fs::read_dir(path).unwrap() {
                tree(&entry.unwrap().path(), out);
            }
        }
    }

    #[test]
    fn every_backend_leaves_its_data_directory_to_its_owner() {
        for kind in StoreKind::ALL {
            let parent = tempfile::tempdir().unwrap();
            let dir = parent.path().join("data");
            std::fs::create_dir(&dir).unwrap();
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
            let store = crate::open(kind, &dir).unwrap();
            let mut paths = Vec::new();
            tree(&dir, &mut paths);
            assert!(paths.len() > 1, "{kind}: {paths:?}");
            for path in paths {
                let expected = if path.is_dir() { DIR_MODE } else { FILE_MODE };
                assert_eq!(mode(&path), expected, "{kind}: {}", path.display());
            }
            // Files the backend adds later are under the private directory.
            store.put_credential(&crate::testing::credential("k")).unwrap();
            store.flush().unwrap();
            assert_eq!(mode(&dir), DIR_MODE, "{kind}");
        }
    }

    #[test]
    fn create_dir_makes_a_private_directory() {
        let parent = tempfile::tempdir().unwrap();
        let dir = parent.path().join("a/b");
        create_dir(&dir).unwrap();
        assert_eq!(mode(&dir), DIR_MODE);
        let file = dir.join("f");
        std::fs::write(&file, "x").unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
        restrict(&dir).unwrap();
        assert_eq!(mode(&file), FILE_MODE);
    }
}
