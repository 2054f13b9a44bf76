//! The deployment zip on a real (host-built) binary: deterministic bytes, one `bootstrap` entry
//! with mode 0755, `CodeSha256` as Lambda computes it, and reuse when the binary is unchanged.

mod common;

use base64::Engine;
use common::{TinyCrate, zip_entries};
use pluto_build::{Arch, Toolchain, ZIP_ENTRY, bootstrap_zip, code_sha256, package};
use sha2::{Digest, Sha256};

#[test]
fn zip_is_deterministic_and_code_sha256_is_lambdas() {
    let app = TinyCrate::hello("zip-determinism");
    let binary = app.host_build("zip-determinism");
    let bytes = std::fs::read(&binary).unwrap();

    let first = bootstrap_zip(&bytes).unwrap();
    let second = bootstrap_zip(&bytes).unwrap();
    assert_eq!(first, second, "the same binary must give the same zip");

    // Zips in two directories, written at different times: byte-for-byte equal.
    let a = package(
        &binary,
        Arch::X86_64,
        Toolchain::Cargo,
        &app.dir.path().join("a"),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let b = package(
        &binary,
        Arch::X86_64,
        Toolchain::Cargo,
        &app.dir.path().join("b"),
    )
    .unwrap();
    let zip_a = std::fs::read(&a.zip_path).unwrap();
    assert_eq!(zip_a, std::fs::read(&b.zip_path).unwrap());
    assert_eq!(zip_a, first);
    assert_eq!(a.code_sha256, b.code_sha256);

    // CodeSha256: base64 (standard, padded) of the SHA-256 of the zip's bytes, 44 characters.
    let digest = Sha256::digest(&zip_a);
    assert_eq!(
        a.code_sha256,
        base64::engine::general_purpose::STANDARD.encode(digest)
    );
    assert_eq!(a.code_sha256.len(), 44);
    assert!(a.code_sha256.ends_with('='));
    assert_eq!(code_sha256(&zip_a), a.code_sha256);
    let hex: String = digest.iter().map(|byte| format!("{byte:02x}")).collect();
    assert_eq!(a.sha256_hex, hex);
    assert_eq!(a.zip_bytes, zip_a.len() as u64);
    assert_eq!(a.binary_bytes, bytes.len() as u64);
    assert!(
        a.zip_bytes < a.binary_bytes,
        "deflate should shrink a binary"
    );

    // One entry, `bootstrap`, a regular file with mode 0755, the binary itself, dated 1980-01-01.
    let entries = zip_entries(&a.zip_path);
    assert_eq!(entries.len(), 1);
    let (name, mode, contents) = &entries[0];
    assert_eq!(name, ZIP_ENTRY);
    assert_eq!(*mode, Some(0o100_755));
    assert!(contents == &bytes, "the entry must be the binary");
    let mut archive = zip::ZipArchive::new(std::fs::File::open(&a.zip_path).unwrap()).unwrap();
    let entry = archive.by_index(0).unwrap();
    assert_eq!(entry.compression(), zip::CompressionMethod::Deflated);
    let modified = entry.last_modified().unwrap();
    assert_eq!(
        (
            modified.year(),
            modified.month(),
            modified.day(),
            modified.hour(),
            modified.minute()
        ),
        (1980, 1, 1, 0, 0)
    );
}

#[test]
fn unchanged_binary_reuses_the_zip_and_changes_rewrite_it() {
    let app = TinyCrate::hello("zip-reuse");
    let binary = app.host_build("zip-reuse");
    let out = app.out_dir();

    let first = package(&binary, Arch::X86_64, Toolchain::Cargo, &out).unwrap();
    assert!(!first.reused);
    assert_eq!(first.zip_path, out.join("bootstrap.zip"));
    assert!(out.join("bootstrap.json").is_file());
    let written = std::fs::metadata(&first.zip_path)
        .unwrap()
        .modified()
        .unwrap();

    let second = package(&binary, Arch::X86_64, Toolchain::Cargo, &out).unwrap();
    assert!(second.reused);
    assert_eq!(second.code_sha256, first.code_sha256);
    assert_eq!(
        std::fs::metadata(&first.zip_path)
            .unwrap()
            .modified()
            .unwrap(),
        written,
        "a reused zip is not rewritten"
    );

    // A damaged zip is rewritten, to the same bytes.
    std::fs::write(&first.zip_path, b"not a zip").unwrap();
    let repaired = package(&binary, Arch::X86_64, Toolchain::Cargo, &out).unwrap();
    assert!(!repaired.reused);
    assert_eq!(repaired.code_sha256, first.code_sha256);

    // A deleted zip too.
    std::fs::remove_file(&first.zip_path).unwrap();
    assert!(
        !package(&binary, Arch::X86_64, Toolchain::Cargo, &out)
            .unwrap()
            .reused
    );

    // A different binary gives a different zip.
    let mut changed = std::fs::read(&binary).unwrap();
    changed.extend_from_slice(b"trailing bytes");
    let other = app.dir.path().join("other-binary");
    std::fs::write(&other, &changed).unwrap();
    let rebuilt = package(&other, Arch::X86_64, Toolchain::Cargo, &out).unwrap();
    assert!(!rebuilt.reused);
    assert_ne!(rebuilt.code_sha256, first.code_sha256);
    // No temporary files are left behind.
    let mut names: Vec<_> = std::fs::read_dir(&out)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, ["bootstrap.json", "bootstrap.zip"]);
}
