//! The conformance suite: what every [`Store`] backend must do, written once.
//!
//! A backend's tests call [`run_all`] with a function that opens a fresh, empty store, and (for
//! backends that keep data on disk) [`run_durability`] with a function that opens the store in a
//! given directory. Each case is also a public function, to run one on its own.

use std::{
    path::{Path, PathBuf},
    sync::Arc,
    thread,
};

use crate::{Credential, CredentialKind, Store, StoredSecret};

/// A case that runs against one fresh, empty store.
pub type Case = fn(&dyn Store);

/// Every case of [`run_all`], by name.
pub const CASES: &[(&str, Case)] = &[
    ("an_empty_store_has_nothing", an_empty_store_has_nothing),
    ("a_credential_round_trips", a_credential_round_trips),
    ("put_replaces_a_credential", put_replaces_a_credential),
    ("credentials_are_sorted_by_name", credentials_are_sorted_by_name),
    ("names_are_matched_exactly", names_are_matched_exactly),
    ("delete_removes_only_that_credential", delete_removes_only_that_credential),
    ("flush_succeeds", flush_succeeds),
    ("concurrent_writes_are_all_kept", concurrent_writes_are_all_kept),
];

/// Runs every case in [`CASES`], each on a store from `make`, which must be fresh and empty.
pub fn run_all(make: &dyn Fn() -> Arc<dyn Store>) {
    for (name, case) in CASES {
        let store = make();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| case(&*store)));
        if let Err(panic) = outcome {
            eprintln!("conformance case `{name}` failed");
            std::panic::resume_unwind(panic);
        }
    }
}

/// Runs the durability cases for a backend that keeps its data in a directory: `new_dir` gives a
/// new, empty directory on each call, and `open` opens (or reopens) the store in a directory.
pub fn run_durability(new_dir: &dyn Fn() -> PathBuf, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    writes_survive_a_reopen(&new_dir(), open);
    a_reopened_store_accepts_writes(&new_dir(), open);
}

/// A credential with two secrets, one of them expiring; `basic` with a username.
pub fn credential(name: &str) -> Credential {
    Credential {
        name: name.to_owned(),
        kind: CredentialKind::Basic,
        username: Some(format!("{name}-user")),
        secrets: vec![
            StoredSecret {
                digest: [0xab; 32],
                created_at_ms: 1_700_000_000_000,
                expires_at_ms: Some(1_700_000_600_000),
            },
            StoredSecret {
                digest: [0x01; 32],
                created_at_ms: 1_700_000_100_000,
                expires_at_ms: None,
            },
        ],
        created_at_ms: 1_700_000_000_000,
    }
}

fn names(store: &dyn Store) -> Vec<String> {
    store.credentials().unwrap().into_iter().map(|c| c.name).collect()
}

/// A new store holds nothing, and deleting from it reports that nothing was there.
pub fn an_empty_store_has_nothing(store: &dyn Store) {
    assert_eq!(store.credential("missing").unwrap(), None);
    assert_eq!(store.credentials().unwrap(), vec![]);
    assert!(!store.delete_credential("missing").unwrap());
}

/// Every field comes back as written, for every kind.
pub fn a_credential_round_trips(store: &dyn Store) {
    let basic = credential("basic");
    let api_key = Credential {
        name: "api".into(),
        kind: CredentialKind::ApiKey,
        username: None,
        secrets: vec![StoredSecret {
            digest: std::array::from_fn(|i| u8::try_from(i).unwrap_or(0) * 7),
            created_at_ms: i64::MIN,
            expires_at_ms: Some(i64::MAX),
        }],
        created_at_ms: -1,
    };
    let bearer = Credential {
        name: "ünï.cödé".into(),
        kind: CredentialKind::Bearer,
        username: None,
        secrets: vec![],
        created_at_ms: 0,
    };
    for credential in [&basic, &api_key, &bearer] {
        store.put_credential(credential).unwrap();
    }
    for credential in [&basic, &api_key, &bearer] {
        assert_eq!(store.credential(&credential.name).unwrap().as_ref(), Some(credential));
    }
}

/// Putting a credential under an existing name replaces it whole.
pub fn put_replaces_a_credential(store: &dyn Store) {
    store.put_credential(&credential("ci")).unwrap();
    let replacement = Credential {
        kind: CredentialKind::Bearer,
        username: None,
        secrets: vec![StoredSecret { digest: [9; 32], created_at_ms: 5, expires_at_ms: None }],
        ..credential("ci")
    };
    store.put_credential(&replacement).unwrap();
    assert_eq!(store.credential("ci").unwrap(), Some(replacement.clone()));
    assert_eq!(store.credentials().unwrap(), vec![replacement]);
}

/// `credentials()` lists by name, in the order of `str`'s `Ord`, whatever the insertion order.
pub fn credentials_are_sorted_by_name(store: &dyn Store) {
    let inserted = ["b", "a.b", "Z9", "a-b", "a", "a_b", "ab", "0", "é"];
    for name in inserted {
        store.put_credential(&credential(name)).unwrap();
    }
    let mut expected: Vec<String> = inserted.iter().map(|&name| name.to_owned()).collect();
    expected.sort();
    assert_eq!(names(store), expected);
    for listed in store.credentials().unwrap() {
        assert_eq!(listed, credential(&listed.name));
    }
}

/// A name is a whole key: no prefix, case or whitespace matching.
pub fn names_are_matched_exactly(store: &dyn Store) {
    store.put_credential(&credential("deploy")).unwrap();
    for other in ["dep", "deploy ", "Deploy", "deploy2", ""] {
        assert_eq!(store.credential(other).unwrap(), None, "{other:?}");
        assert!(!store.delete_credential(other).unwrap(), "{other:?}");
    }
    assert_eq!(names(store), ["deploy"]);
}

/// Deleting reports whether there was something, and touches nothing else.
pub fn delete_removes_only_that_credential(store: &dyn Store) {
    for name in ["a", "b", "c"] {
        store.put_credential(&credential(name)).unwrap();
    }
    assert!(store.delete_credential("b").unwrap());
    assert!(!store.delete_credential("b").unwrap());
    assert_eq!(store.credential("b").unwrap(), None);
    assert_eq!(names(store), ["a", "c"]);
    store.put_credential(&credential("b")).unwrap();
    assert_eq!(names(store), ["a", "b", "c"]);
}

/// `flush` works on an empty store and after writes.
pub fn flush_succeeds(store: &dyn Store) {
    store.flush().unwrap();
    store.put_credential(&credential("a")).unwrap();
    store.flush().unwrap();
    assert_eq!(names(store), ["a"]);
}

/// Writes from several threads at once are all kept.
pub fn concurrent_writes_are_all_kept(store: &dyn Store) {
    const THREADS: usize = 4;
    const EACH: usize = 8;
    thread::scope(|scope| {
        for thread in 0..THREADS {
            scope.spawn(move || {
                for i in 0..EACH {
                    let name = format!("t{thread}-{i}");
                    store.put_credential(&credential(&name)).unwrap();
                    assert!(store.credential(&name).unwrap().is_some(), "{name}");
                }
            });
        }
    });
    assert_eq!(store.credentials().unwrap().len(), THREADS * EACH);
}

/// Opens the store in `dir`, checks that it is the only handle, lets `f` use it, and drops it.
fn with_store(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>, f: impl FnOnce(&dyn Store)) {
    let store = open(dir);
    f(&*store);
    assert_eq!(Arc::strong_count(&store), 1, "the store must be dropped to be reopened");
}

/// Puts, replacements and deletes are all there after the store is dropped and reopened.
pub fn writes_survive_a_reopen(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    let replaced =
        Credential { kind: CredentialKind::ApiKey, username: None, ..credential("replaced") };
    with_store(dir, open, |store| {
        for name in ["kept", "replaced", "deleted"] {
            store.put_credential(&credential(name)).unwrap();
        }
        store.put_credential(&replaced).unwrap();
        assert!(store.delete_credential("deleted").unwrap());
    });
    with_store(dir, open, |store| {
        assert_eq!(store.credentials().unwrap(), vec![credential("kept"), replaced.clone()]);
    });
}

/// A reopened store can be written to, and sees the old and new data together.
pub fn a_reopened_store_accepts_writes(dir: &Path, open: &dyn Fn(&Path) -> Arc<dyn Store>) {
    with_store(dir, open, |store| store.put_credential(&credential("first")).unwrap());
    with_store(dir, open, |store| {
        store.put_credential(&credential("second")).unwrap();
        assert!(store.delete_credential("first").unwrap());
    });
    with_store(dir, open, |store| {
        assert_eq!(names(store), ["second"]);
    });
}
