//! Data-driven compiler errors: each `tests/fixtures/invalid/<name>.json` is compiled and its
//! rendered diagnostics must equal `<name>.diagnostics` (bless with `UPDATE_EXPECT=1`).

use hookflow_core::diagnostic::render_all;
use hookflow_core::{Source, compile_all};

use crate::{golden, root};

#[test]
fn invalid_flows_report_every_problem() {
    let dir = root().join("tests/fixtures/invalid");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty());
    for path in files {
        let name = path.file_name().expect("name").to_string_lossy().into_owned();
        let text = std::fs::read_to_string(&path).expect("read");
        let set = compile_all(&[Source { file: format!("invalid/{name}"), text }]);
        assert!(set.has_errors(), "{name} has no error");
        golden::check(&path.with_extension("diagnostics"), &render_all(&set.diagnostics));
    }
}
