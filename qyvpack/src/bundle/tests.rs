//! Bundles: round trips, reproducibility, tampering, and a corpus of hostile archives.

use crate::digest::{content_digest, sha256_hex};
use ring::signature::{Ed25519KeyPair, KeyPair};

use super::*;
use crate::keys;

fn key() -> Ed25519KeyPair {
    let (pem, _) = keys::generate("test").unwrap();
    keys::parse_private(&pem).unwrap()
}

const MANIFEST: &[u8] = b"name: tiny\nentrypoint: app.wasm\n";

fn input() -> PackInput {
    PackInput {
        name: "tiny".into(),
        manifest: MANIFEST.to_vec(),
        component: PackFile::Bytes(b"\0asm\x0d\x00\x01\x00 a tiny stand-in component".to_vec()),
        models: vec![("m.bin".into(), PackFile::Bytes(vec![7u8; 3000]))],
        assets: vec![("a/b.txt".into(), PackFile::Bytes(b"asset".to_vec()))],
        level: 3,
        mtime: 0,
    }
}

fn packed_bytes(key: Option<&Ed25519KeyPair>) -> Vec<u8> {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.qyvbin");
    pack(&input(), key, &out, &|_| {}).unwrap();
    std::fs::read(out).unwrap()
}

#[test]
fn round_trip_keeps_every_file_and_the_signer() {
    let k = key();
    let bytes = packed_bytes(Some(&k));
    let b = read(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(b.signer.unwrap(), k.public_key().as_ref());
    assert_eq!(b.manifest_text(), MANIFEST);
    assert!(b.component().starts_with(b"\0asm"));
    assert_eq!(
        b.files_below(MODELS_DIR),
        vec![("m.bin".to_string(), &[7u8; 3000][..])]
    );
    assert_eq!(b.files_below(ASSETS_DIR)[0].0, "a/b.txt");
    let paths: Vec<&str> = b.index.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        ["app.wasm", "assets/a/b.txt", "manifest.qyv", "models/m.bin"]
    );
    let unsigned = read(&packed_bytes(None), ReadLimits::default()).unwrap();
    assert!(unsigned.signer.is_none());
}

#[test]
fn packing_twice_gives_identical_bytes() {
    let k = key();
    assert_eq!(packed_bytes(Some(&k)), packed_bytes(Some(&k)));
    assert_eq!(packed_bytes(None), packed_bytes(None));
}

#[test]
fn standard_tools_see_a_plain_tar_inside() {
    let bytes = packed_bytes(None);
    // zstd skips the header frame and yields the tar.
    let tar_bytes = zstd::stream::decode_all(&bytes[..]).unwrap();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let names: Vec<String> = archive
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        names,
        ["app.wasm", "assets/a/b.txt", "manifest.qyv", "models/m.bin"]
    );
}

/// Bytes that do not repeat, so a misplaced chunk cannot go unnoticed.
fn numbered(len: usize, seed: u32) -> Vec<u8> {
    (0..len as u32)
        .map(|i| (i.wrapping_mul(2_654_435_761).wrapping_add(seed) >> 13) as u8)
        .collect()
}

#[test]
fn files_larger_than_the_pipeline_chunks_arrive_whole_and_in_order() {
    // Sizes around the 1 MiB chunks: a file ending exactly on a chunk boundary, one spanning
    // several, headers and padding split across chunks, and a file read from disk.
    let dir = tempfile::tempdir().unwrap();
    let on_disk = numbered(2_500_001, 3);
    std::fs::write(dir.path().join("big.bin"), &on_disk).unwrap();
    let component = numbered((1 << 20) - 512 - 512, 1);
    let model = numbered(3 * (1 << 20) + 77, 2);
    let mut input = input();
    input.component = PackFile::Bytes(component.clone());
    input.models = vec![
        ("m.bin".into(), PackFile::Bytes(model.clone())),
        ("z.bin".into(), PackFile::Path(dir.path().join("big.bin"))),
    ];
    let out = dir.path().join("big.qyvbin");
    let seen = std::cell::Cell::new(0u64);
    let packed = pack(&input, None, &out, &|n| {
        assert!(n >= seen.get(), "progress goes forward");
        seen.set(n);
    })
    .unwrap();
    assert_eq!(seen.get(), packed.unpacked, "progress ends at the total");
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(packed.sha256, sha256_hex(&bytes));
    let b = read(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(b.component(), &component[..]);
    assert_eq!(b.files["models/m.bin"], model);
    assert_eq!(b.files["models/z.bin"], on_disk);
    // The archive is exactly the ustar stream of the files, in order.
    let raw: Vec<Raw> = [
        ("app.wasm", &component[..]),
        ("assets/a/b.txt", b"asset"),
        ("manifest.qyv", MANIFEST),
        ("models/m.bin", &model[..]),
        ("models/z.bin", &on_disk[..]),
    ]
    .iter()
    .map(|(p, d)| file(p, d))
    .collect();
    let (got, want) = (zstd::stream::decode_all(&bytes[..]).unwrap(), tar_of(&raw));
    let first = got.iter().zip(&want).position(|(a, b)| a != b);
    assert_eq!((first, got.len()), (None, want.len()), "first difference");
}

#[test]
fn an_unreadable_input_stops_the_pack_and_leaves_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.qyvbin");
    let mut input = input();
    input.models = vec![(
        "gone.bin".into(),
        PackFile::Path(dir.path().join("gone.bin")),
    )];
    let err = pack(&input, None, &out, &|_| {}).unwrap_err().to_string();
    assert!(err.contains("gone.bin"), "{err}");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert!(left.is_empty(), "nothing written: {left:?}");
}

#[test]
fn packing_over_a_bundle_replaces_it_and_leaves_no_temporary_file() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("x.qyvbin");
    pack(&input(), None, &out, &|_| {}).unwrap();
    let mut other = input();
    other.manifest = b"name: tiny\nentrypoint: app.wasm\n# changed\n".to_vec();
    let packed = pack(&other, None, &out, &|_| {}).unwrap();
    let bytes = std::fs::read(&out).unwrap();
    assert_eq!(packed.sha256, sha256_hex(&bytes));
    let b = read(&bytes, ReadLimits::default()).unwrap();
    assert!(b.manifest_text().ends_with(b"# changed\n"));
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["x.qyvbin"]);
}

#[test]
fn flipping_any_byte_of_a_signed_bundle_is_detected() {
    let k = key();
    let bytes = packed_bytes(Some(&k));
    for i in 0..bytes.len() {
        for bit in [0x01u8, 0x80] {
            let mut copy = bytes.clone();
            copy[i] ^= bit;
            let result = read(&copy, ReadLimits::default());
            assert!(
                result.is_err(),
                "flipping bit {bit:#x} of byte {i} of {} went unnoticed",
                bytes.len()
            );
        }
    }
}

/// The index read from a file's two ends, as a warm start reads it.
fn index_from_file(bytes: &[u8]) -> Result<SignedIndex, BundleError> {
    let mut file = tempfile::tempfile().unwrap();
    std::io::Write::write_all(&mut file, bytes).unwrap();
    read_index_from(&file, bytes.len() as u64, ReadLimits::default())
}

#[test]
fn the_index_read_from_a_file_agrees_with_the_index_read_in_memory() {
    let bytes = packed_bytes(Some(&key()));
    let whole = index_from_file(&bytes).unwrap();
    let in_memory = read_index(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(whole.index_bytes, in_memory.index_bytes);
    assert_eq!(whole.signer, in_memory.signer);
    // Cut anywhere, or with any byte of its last 600 flipped: refused, or read the same,
    // exactly as in memory.
    let mut variants: Vec<Vec<u8>> = (0..bytes.len()).map(|n| bytes[..n].to_vec()).collect();
    for i in bytes.len().saturating_sub(600)..bytes.len() {
        let mut copy = bytes.clone();
        copy[i] ^= 0x41;
        variants.push(copy);
    }
    for v in variants {
        let (file, memory) = (index_from_file(&v), read_index(&v, ReadLimits::default()));
        match (file, memory) {
            (Ok(f), Ok(m)) => assert_eq!(f.index_bytes, m.index_bytes),
            (Err(f), Err(m)) => assert_eq!(f.to_string(), m.to_string()),
            (f, m) => panic!("{} bytes: from the file {f:?}, in memory {m:?}", v.len()),
        }
    }
}

// ---- hostile bundles, built by hand ----

struct Raw {
    path: Vec<u8>,
    kind: tar::EntryType,
    data: Vec<u8>,
    mode: u32,
}

fn file(path: &str, data: &[u8]) -> Raw {
    Raw {
        path: path.as_bytes().to_vec(),
        kind: tar::EntryType::Regular,
        data: data.to_vec(),
        mode: FILE_MODE,
    }
}

fn tar_of(entries: &[Raw]) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        let mut h = tar::Header::new_ustar();
        {
            let name = &mut h.as_old_mut().name;
            name.fill(0);
            name[..e.path.len()].copy_from_slice(&e.path);
        }
        h.set_size(e.data.len() as u64);
        h.set_mode(e.mode);
        // As pack writes them.
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_entry_type(e.kind);
        if e.kind.is_symlink() || e.kind.is_hard_link() {
            h.set_link_name("app.wasm").unwrap();
        }
        h.set_cksum();
        out.extend_from_slice(h.as_bytes());
        out.extend_from_slice(&e.data);
        out.resize(out.len().div_ceil(512) * 512, 0);
    }
    out.extend_from_slice(&[0u8; 1024]);
    out
}

fn entry_for(path: &str, data: &[u8]) -> FileEntry {
    FileEntry {
        path: path.into(),
        mode: FILE_MODE,
        size: data.len() as u64,
        blake3: content_digest(data),
    }
}

/// A bundle with this archive and index entries (the archive digest filled in), signed.
fn assemble(
    version: u32,
    files: Vec<FileEntry>,
    tar: &[u8],
    key: Option<&Ed25519KeyPair>,
) -> Vec<u8> {
    let archive = zstd::stream::encode_all(tar, 3).unwrap();
    let mut covered = header_frame(version).to_vec();
    covered.extend_from_slice(&archive);
    let index = Index {
        format: version,
        name: "evil".into(),
        component: COMPONENT_PATH.into(),
        manifest: MANIFEST_PATH.into(),
        files,
        archive_size: covered.len() as u64,
        archive_sha256: sha256_hex(&covered),
    };
    let index_bytes = serde_json::to_vec(&index).unwrap();
    let sig = key
        .map(|k| {
            use base64::Engine as _;
            let b64 = base64::engine::general_purpose::STANDARD;
            serde_json::to_vec(&SignatureBlock {
                algorithm: "ed25519".into(),
                public_key: b64.encode(k.public_key().as_ref()),
                signature: b64.encode(k.sign(&signed_message(version, &index_bytes)).as_ref()),
            })
            .unwrap()
        })
        .unwrap_or_default();
    let mut out = covered;
    out.extend_from_slice(&index_frame(&index_bytes, &sig));
    out
}

const WASM: &[u8] = b"\0asm\x0d\x00\x01\x00";

/// A well-formed base: the component and the manifest.
fn base() -> (Vec<Raw>, Vec<FileEntry>) {
    (
        vec![file("app.wasm", WASM), file("manifest.qyv", MANIFEST)],
        vec![
            entry_for("app.wasm", WASM),
            entry_for("manifest.qyv", MANIFEST),
        ],
    )
}

fn refused(bytes: &[u8]) -> String {
    let limits = ReadLimits {
        max_unpacked: 1 << 20,
        max_entries: 100,
    };
    // The streaming reader refuses every one of them too.
    assert!(
        streamed(bytes, limits).is_err(),
        "verify_file accepted a hostile bundle"
    );
    match read(bytes, limits) {
        Ok(_) => panic!("a hostile bundle was accepted"),
        Err(e) => e.to_string(),
    }
}

/// `verify_file` on `bytes` written to a file.
fn streamed(bytes: &[u8], limits: ReadLimits) -> Result<Bundle, BundleError> {
    let tmp = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(tmp.path(), bytes).unwrap();
    verify_file(tmp.path(), limits)
}

#[test]
fn the_streaming_reader_keeps_the_component_and_manifest_and_checks_the_rest() {
    let k = key();
    let bytes = packed_bytes(Some(&k));
    let whole = read(&bytes, ReadLimits::default()).unwrap();
    let b = streamed(&bytes, ReadLimits::default()).unwrap();
    assert_eq!(b.signer, whole.signer);
    assert_eq!(b.index, whole.index);
    assert_eq!(b.component(), whole.component());
    assert_eq!(b.manifest_text(), MANIFEST);
    assert_eq!(b.files.len(), 2, "models and assets are checked, not kept");
    assert_eq!(b.compressed_size, bytes.len() as u64);
    for i in 0..bytes.len() {
        let mut copy = bytes.clone();
        copy[i] ^= 0x01;
        assert!(
            streamed(&copy, ReadLimits::default()).is_err(),
            "flipping byte {i} of {} went unnoticed",
            bytes.len()
        );
    }
}

#[test]
fn the_hand_built_base_is_accepted() {
    let (raw, files) = base();
    let k = key();
    assert!(
        read(
            &assemble(FORMAT_VERSION, files, &tar_of(&raw), Some(&k)),
            ReadLimits::default()
        )
        .is_ok()
    );
}

#[test]
fn hostile_bundles_are_refused_each_with_its_own_message() {
    let k = key();
    let k = Some(&k);
    let mut messages = Vec::new();
    let mut check = |name: &str, bytes: Vec<u8>, expected: &str| {
        let m = refused(&bytes);
        assert!(m.contains(expected), "{name}: `{m}` lacks `{expected}`");
        messages.push(m);
    };

    // Traversal and absolute paths, both in the index and only in the archive.
    for (path, why) in [
        ("../evil", "`..` would leave the bundle"),
        ("/etc/evil", "absolute paths"),
    ] {
        let (mut raw, mut files) = base();
        raw.push(file(path, b"x"));
        files.push(entry_for(path, b"x"));
        files.sort_by(|a, b| a.path.cmp(&b.path));
        check(path, assemble(FORMAT_VERSION, files, &tar_of(&raw), k), why);
        let (mut raw, files) = base();
        raw.insert(0, file(path, b"x"));
        check(path, assemble(FORMAT_VERSION, files, &tar_of(&raw), k), why);
    }
    // Links and devices, even where the index lists a regular file of that name.
    for (kind, word) in [
        (tar::EntryType::Symlink, "symbolic link"),
        (tar::EntryType::Link, "hard link"),
        (tar::EntryType::Char, "character device"),
        (tar::EntryType::Block, "block device"),
    ] {
        let (mut raw, mut files) = base();
        raw.push(Raw {
            path: b"models/x".to_vec(),
            kind,
            data: Vec::new(),
            mode: FILE_MODE,
        });
        files.push(entry_for("models/x", b""));
        check(
            word,
            assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
            word,
        );
    }
    // A duplicate entry.
    let (mut raw, files) = base();
    raw.push(file("manifest.qyv", MANIFEST));
    check(
        "duplicate",
        assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
        "appears twice",
    );
    // Oversized: the index admits it.
    let (mut raw, mut files) = base();
    let big = vec![0u8; 2 << 20];
    raw.push(file("models/big", &big));
    files.push(entry_for("models/big", &big));
    check(
        "oversized",
        assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
        "unpacks to more than",
    );
    // A decompression bomb the index lies about: 2 MiB of zeros declared as 10 bytes.
    let (mut raw, mut files) = base();
    raw.push(file("models/bomb", &big));
    files.push(entry_for("models/bomb", &big[..10]));
    check(
        "bomb",
        assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
        "size 2097152 where the index says 10",
    );
    // Truncated: the end (and with it the index) cut off, or bytes missing inside.
    let (raw, files) = base();
    let whole = assemble(FORMAT_VERSION, files, &tar_of(&raw), k);
    check(
        "truncated",
        whole[..whole.len() - 7].to_vec(),
        "no index frame at the end",
    );
    let mut holed = whole[..40].to_vec();
    holed.extend_from_slice(&whole[47..]);
    check(
        "bytes missing",
        holed,
        "the archive does not match the index's digest",
    );
    check(
        "truncated header",
        whole[..14].to_vec(),
        "damaged header: truncated",
    );
    // Unknown version.
    let (raw, files) = base();
    check(
        "version",
        assemble(FORMAT_VERSION + 1, files, &tar_of(&raw), k),
        &format!("format version {}", FORMAT_VERSION + 1),
    );
    // An entry the index does not cover.
    let (mut raw, files) = base();
    raw.push(file("models/extra", b"x"));
    check(
        "not covered",
        assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
        "not in the signed index",
    );
    // A listed file missing from the archive.
    let (raw, mut files) = base();
    files.push(entry_for("models/gone", b"x"));
    check(
        "missing",
        assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
        "missing from the archive",
    );
    // A valid signature over a different manifest.
    let (mut raw, files) = base();
    // Same size, other content: only the digest can tell.
    raw[1] = file("manifest.qyv", b"name: evil\nentrypoint: app.wasm\n");
    check(
        "other manifest",
        assemble(FORMAT_VERSION, files, &tar_of(&raw), k),
        "does not match its digest",
    );
    // Not a bundle at all.
    check(
        "plain zstd",
        zstd::stream::encode_all(&b"hello"[..], 3).unwrap(),
        "not a qyv bundle",
    );

    let distinct: std::collections::HashSet<&String> = messages.iter().collect();
    assert!(
        distinct.len() >= 12,
        "messages should differ: {messages:#?}"
    );
}

#[test]
fn a_signature_by_one_key_does_not_verify_under_another() {
    let (raw, files) = base();
    let mut bytes = assemble(FORMAT_VERSION, files, &tar_of(&raw), Some(&key()));
    // Swap in another public key: the signature no longer verifies.
    let other = key();
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    let (raw2, files2) = base();
    let real = b64.encode(read(&bytes, ReadLimits::default()).unwrap().signer.unwrap());
    let fake = b64.encode(other.public_key().as_ref());
    let text = String::from_utf8_lossy(&bytes).replace(&real, &fake);
    assert_eq!(text.len(), String::from_utf8_lossy(&bytes).len());
    let pos = bytes
        .windows(real.len())
        .position(|w| w == real.as_bytes())
        .unwrap();
    bytes[pos..pos + real.len()].copy_from_slice(fake.as_bytes());
    assert!(matches!(
        read(&bytes, ReadLimits::default()),
        Err(BundleError::BadSignature)
    ));
    drop((raw2, files2));
}

#[test]
fn data_after_the_archive_is_called_trailing_data_whatever_its_length() {
    let k = key();
    for junk in [100, 20_000] {
        let (raw, files) = base();
        let mut tar = tar_of(&raw);
        tar.extend(std::iter::repeat_n(0x5a, junk));
        let bytes = assemble(FORMAT_VERSION, files, &tar, Some(&k));
        assert!(
            matches!(
                read(&bytes, ReadLimits::default()),
                Err(BundleError::Trailing)
            ),
            "{junk} bytes: {}",
            refused(&bytes)
        );
        assert!(refused(&bytes).contains("trailing data after the tar archive"));
    }
}

#[test]
fn the_max_unpacked_setting_is_a_size_or_an_error_naming_it() {
    use std::ffi::OsStr;
    let limit = |v: &str| ReadLimits::with_max_unpacked(Some(OsStr::new(v)));
    assert_eq!(limit("8GiB").unwrap().max_unpacked, 8 << 30);
    assert_eq!(limit("1000").unwrap().max_unpacked, 1000);
    let default = ReadLimits::default().max_unpacked;
    assert_eq!(limit("").unwrap().max_unpacked, default);
    assert_eq!(
        ReadLimits::with_max_unpacked(None).unwrap().max_unpacked,
        default
    );
    for bad in ["lots", "8 parsecs", "-1", "0", "1e99GiB"] {
        let e = limit(bad).unwrap_err().to_string();
        assert!(e.starts_with("QYV_MAX_UNPACKED=`"), "{bad}: {e}");
    }
}

#[test]
fn the_longest_index_entry_fits_its_bound() {
    let entry = FileEntry {
        path: "\u{1}".repeat(255),
        mode: u32::MAX,
        size: u64::MAX,
        blake3: "f".repeat(64),
    };
    let written = serde_json::to_vec(&entry).unwrap().len() + 1; // and its comma
    assert_eq!(written, MAX_INDEX_ENTRY);
}

#[test]
fn a_bundle_at_the_file_cap_packs_and_reads_and_one_more_file_is_refused() {
    // The longest paths a bundle takes (255 bytes: a ustar prefix of 155 and a name of 100),
    // the most files: the index must fit.
    let asset = |i: usize| {
        let dir = format!("{i:05}{}", "d".repeat(155 - 1 - ASSETS_DIR.len() - 5));
        let path = format!("{dir}/{}", "n".repeat(100));
        assert_eq!(ASSETS_DIR.len() + path.len(), 255);
        (path, PackFile::Bytes(vec![i as u8]))
    };
    let mut at_cap = input();
    at_cap.models.clear();
    at_cap.assets = (0..MAX_FILES - 2).map(asset).collect();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("many.qyvbin");
    let packed = pack(&at_cap, Some(&key()), &out, &|_| {}).unwrap();
    assert_eq!(packed.files, MAX_FILES);
    let bundle = read(&std::fs::read(&out).unwrap(), ReadLimits::default()).unwrap();
    assert_eq!(bundle.files.len(), MAX_FILES);
    assert_eq!(bundle.index.files[2].path.len(), 255);

    at_cap.assets.push(asset(MAX_FILES));
    assert!(matches!(
        pack(&at_cap, None, &tmp.path().join("more.qyvbin"), &|_| {}),
        Err(BundleError::TooManyEntries { limit: MAX_FILES })
    ));
}
