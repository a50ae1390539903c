//! Cases files (`<flow-id>.cases.json`) written by `hookflow test --update`, `hookflow cases` and
//! the admin API: whole or not at all, through [`atomic_file`](crate::atomic_file). Blocks.

use std::path::Path;

use hookflow_core::cases::{self, Case, CasesFile, SCHEMA_REF};

/// A cases file for flow `flow_id` to be written at `path`; it points at the cases schema when
/// that is beside it (`../schemas/cases.schema.json`).
pub fn new_file(path: &Path, flow_id: &str, cases: Vec<Case>) -> CasesFile {
    let dir = path.parent().unwrap_or(Path::new("."));
    let schema = dir.join(SCHEMA_REF).exists().then(|| SCHEMA_REF.to_owned());
    CasesFile { schema, flow: flow_id.to_owned(), cases }
}

/// Writes `file` at `path`.
pub fn write(path: &Path, file: &CasesFile) -> Result<(), String> {
    crate::atomic_file::write(path, cases::to_text(file).as_bytes())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Appends `case` to the cases file at `path` (created for flow `flow_id` when missing, pointing
/// at the cases schema when it is beside it). A case of the same name is refused.
pub fn append_case(path: &Path, flow_id: &str, case: Case) -> Result<(), String> {
    let mut file =
        if path.exists() { cases::read(path)? } else { new_file(path, flow_id, Vec::new()) };
    if file.cases.iter().any(|c| c.name == case.name) {
        return Err(format!("{} already has a case named `{}`", path.display(), case.name));
    }
    file.cases.push(case);
    write(path, &file)
}

#[cfg(test)]
mod tests {
    use hookflow_core::cases::Expect;

    use super::*;

    fn case(name: &str) -> Case {
        Case {
            name: name.into(),
            request: Default::default(),
            execution_id: None,
            received_at: None,
            event: None,
            expect: Expect::with_status(200),
        }
    }

    #[test]
    fn cases_are_appended_and_a_repeated_name_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.cases.json");
        append_case(&path, "f", case("one")).unwrap();
        append_case(&path, "f", case("two")).unwrap();
        let err = append_case(&path, "f", case("one")).unwrap_err();
        assert!(err.ends_with("already has a case named `one`"), "{err}");
        let file = cases::read(&path).unwrap();
        assert_eq!((file.schema, file.flow.as_str(), file.cases.len()), (None, "f", 2));
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.ends_with("}\n"), "{text}");
        let names: Vec<_> =
            std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, ["f.cases.json"], "no temporary file is left");
    }
}
