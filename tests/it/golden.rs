//! Golden files: compares text with a file, or rewrites the file under `UPDATE_EXPECT=1`.

use std::path::Path;

/// Asserts that `actual` equals the content of `path`; with `UPDATE_EXPECT=1` writes it instead.
pub fn check(path: &Path, actual: &str) {
    if std::env::var_os("UPDATE_EXPECT").is_some() {
        std::fs::write(path, actual).expect("write golden file");
        return;
    }
    let expected = std::fs::read_to_string(path).unwrap_or_default();
    if expected != actual {
        let diff: Vec<String> = expected
            .lines()
            .zip(actual.lines())
            .enumerate()
            .filter(|(_, (e, a))| e != a)
            .take(5)
            .map(|(i, (e, a))| format!("line {}:\n  expected: {e}\n  actual:   {a}", i + 1))
            .collect();
        panic!(
            "{} is stale ({} vs {} lines); first differences:\n{}\nrun `UPDATE_EXPECT=1 cargo test` to bless the new output",
            path.display(),
            expected.lines().count(),
            actual.lines().count(),
            diff.join("\n")
        );
    }
}
