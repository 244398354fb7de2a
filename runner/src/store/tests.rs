use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};

use qyvpack::bundle::{FileEntry, Index};
use qyvpack::digest::content_digest;

use super::*;

/// An index of `files` (archive path, bytes), and the bytes by path.
fn bundle(files: &[(&str, &[u8])]) -> (Index, BTreeMap<String, Vec<u8>>) {
    let index = Index {
        format: 3,
        name: "t".into(),
        component: "app.wasm".into(),
        manifest: "manifest.qyv".into(),
        files: files
            .iter()
            .map(|(path, bytes)| FileEntry {
                path: path.to_string(),
                mode: 0o644,
                size: bytes.len() as u64,
                blake3: content_digest(bytes),
            })
            .collect(),
        archive_size: 0,
        archive_sha256: String::new(),
    };
    let bytes = files
        .iter()
        .map(|(p, b)| (p.to_string(), b.to_vec()))
        .collect();
    (index, bytes)
}

#[test]
fn placed_files_are_private_read_only_and_shared_by_digest() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::in_dir(&tmp.path().join("store"));
    let (one, one_bytes) = bundle(&[("models/m.bin", b"weights"), ("assets/a", b"one")]);
    let (two, two_bytes) = bundle(&[("models/x/m.bin", b"weights"), ("app.wasm", b"code")]);
    assert_eq!(stored_entries(&two).count(), 1, "only models and assets");
    let v1 = store.place("k1", &one, &one_bytes).unwrap();
    let v2 = store.place("k2", &two, &two_bytes).unwrap();
    assert_eq!(
        std::fs::read(v2.models_dir().join("x/m.bin")).unwrap(),
        b"weights"
    );
    let blob = store.blobs.join(content_digest(b"weights"));
    let meta = std::fs::metadata(&blob).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o400);
    assert_eq!(meta.nlink(), 3, "one blob, linked by both views");
    assert_eq!(store.size(), 7 + 3);
    drop((v1, v2));
    assert!(store.open("k1", &one).is_some());
    assert!(store.open("k3", &one).is_none(), "no view, no warm start");
}

#[test]
fn a_changed_file_is_never_opened_and_placing_again_repairs_it() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::in_dir(&tmp.path().join("store"));
    let (index, bytes) = bundle(&[("models/m.bin", b"weights")]);
    let view = store.place("k", &index, &bytes).unwrap();
    let file = view.file("models/m.bin");
    drop(view);
    assert!(store.open("k", &index).is_some());
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::write(&file, b"weighs!").unwrap();
    assert!(store.open("k", &index).is_none());
    let view = store.place("k", &index, &bytes).unwrap();
    assert_eq!(
        std::fs::read(view.file("models/m.bin")).unwrap(),
        b"weights"
    );
    drop(view);
    assert!(store.open("k", &index).is_some());
}

#[test]
fn eviction_takes_the_least_recently_used_views_that_nobody_holds() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Store::in_dir(&tmp.path().join("store"));
    let files: Vec<_> = (0..3u8)
        .map(|i| bundle(&[("models/m", &[i; 100])]))
        .collect();
    for (i, (index, bytes)) in files.iter().enumerate() {
        drop(store.place(&format!("k{i}"), index, bytes).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // k0 is in use (and so the most recently used); k1 is the oldest nobody holds.
    let held = store.open("k0", &files[0].0).unwrap();
    assert_eq!(
        store.evict(250),
        Evicted {
            files: 1,
            bytes: 100
        }
    );
    assert!(store.open("k1", &files[1].0).is_none());
    assert!(store.open("k2", &files[2].0).is_some());
    // Under a cap nothing fits: all but the held view go, and it stays.
    store.evict(0);
    assert!(store.open("k2", &files[2].0).is_none());
    assert_eq!(std::fs::read(held.file("models/m")).unwrap(), [0; 100]);
    drop(held);
    store.evict(0);
    assert_eq!(store.size(), 0);
}

#[test]
fn the_cap_is_a_size_or_an_error() {
    let of = |v: &str| cache_max_of(Some(std::ffi::OsStr::new(v)));
    assert_eq!(cache_max_of(None), Ok(DEFAULT_CACHE_MAX));
    assert_eq!(of(""), Ok(DEFAULT_CACHE_MAX));
    assert_eq!(of("2GiB"), Ok(2 << 30));
    assert_eq!(of("1000"), Ok(1000));
    assert!(of("lots").is_err());
}
