//! The deployment zip: one entry `bootstrap` (mode 0755, timestamp 1980-01-01 00:00, deflate),
//! so the same binary always gives byte-for-byte the same zip and the same `CodeSha256`.
//!
//! `<out_dir>/bootstrap.json` records the SHA-256 of the binary and of the zip last written; when
//! both still match, the zip is not rewritten. Both files are written atomically (a temporary file
//! in `out_dir`, then a rename), so a reader never sees half a zip.

use crate::{Arch, Artifact, BuildError, Toolchain, cargo, elf};
use base64::Engine;
use sha2::{Digest, Sha256};
use std::io::{Cursor, Write};
use std::path::Path;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, System, ZipWriter};

/// The zip's file name in `out_dir`.
pub const ZIP_FILE: &str = "bootstrap.zip";
/// The record of the last zip written, in `out_dir`.
pub const MANIFEST_FILE: &str = "bootstrap.json";
/// The zip's only entry: the executable Lambda's `provided` runtimes start.
pub const ZIP_ENTRY: &str = "bootstrap";

/// Bumped when the zip's layout changes, so older records do not count as up to date.
const FORMAT: u32 = 1;

/// `<out_dir>/bootstrap.json`.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct Record {
    format: u32,
    binary_sha256: String,
    zip_sha256: String,
}

/// The deployment zip of `binary`, deterministic: the same bytes in give the same bytes out.
pub fn bootstrap_zip(binary: &[u8]) -> Result<Vec<u8>, BuildError> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        // Explicit, so the output does not change if other crates enable other deflate encoders.
        .compression_level(Some(6))
        .last_modified_time(DateTime::DEFAULT)
        .system(System::Unix)
        .unix_permissions(0o755)
        .large_file(u64::try_from(binary.len()).unwrap_or(u64::MAX) >= u64::from(u32::MAX));
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer.start_file(ZIP_ENTRY, options)?;
    writer
        .write_all(binary)
        .map_err(zip::result::ZipError::Io)?;
    Ok(writer.finish()?.into_inner())
}

/// What Lambda reports as `CodeSha256` for a deployment package: base64 of its SHA-256.
pub fn code_sha256(zip: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Sha256::digest(zip))
}

/// Checks the executable at `binary` for Lambda `arch` ([`check_binary`](crate::check_binary))
/// and writes its zip to `<out_dir>/bootstrap.zip`, unless the zip there is already of this
/// binary. `toolchain` is what built it, reported in the [`Artifact`].
pub fn package(
    binary: &Path,
    arch: Arch,
    toolchain: Toolchain,
    out_dir: &Path,
) -> Result<Artifact, BuildError> {
    package_checked(
        binary,
        arch,
        toolchain,
        out_dir,
        &cargo::glibc_advice(Some(toolchain), None),
    )
}

/// [`package`], with the advice to give if the binary needs too new a glibc.
pub(crate) fn package_checked(
    binary: &Path,
    arch: Arch,
    toolchain: Toolchain,
    out_dir: &Path,
    glibc_advice: &str,
) -> Result<Artifact, BuildError> {
    let bytes = std::fs::read(binary).map_err(BuildError::io("read", binary))?;
    let max_glibc = elf::check_elf(&bytes, binary, arch, glibc_advice)?;
    let binary_sha256 = hex(&Sha256::digest(&bytes));

    std::fs::create_dir_all(out_dir).map_err(BuildError::io("create", out_dir))?;
    let zip_path = out_dir.join(ZIP_FILE);
    let record_path = out_dir.join(MANIFEST_FILE);
    // Hashing is the slow part in unoptimised builds: each hash is computed once.
    let artifact = |zip: &[u8], zip_digest: &[u8], reused| Artifact {
        zip_path: zip_path.clone(),
        zip_bytes: zip.len() as u64,
        binary_path: binary.to_path_buf(),
        binary_bytes: bytes.len() as u64,
        sha256_hex: hex(zip_digest),
        code_sha256: base64::engine::general_purpose::STANDARD.encode(zip_digest),
        toolchain,
        max_glibc,
        reused,
    };

    // A record that is missing, unreadable or of another format just means: write the zip.
    let record = std::fs::read(&record_path)
        .ok()
        .and_then(|text| serde_json::from_slice::<Record>(&text).ok())
        .filter(|record| record.format == FORMAT && record.binary_sha256 == binary_sha256);
    if let Some(record) = record
        && let Ok(zip) = std::fs::read(&zip_path)
    {
        let zip_digest = Sha256::digest(&zip);
        if hex(&zip_digest) == record.zip_sha256 {
            return Ok(artifact(&zip, &zip_digest, true));
        }
    }

    let zip = bootstrap_zip(&bytes)?;
    let zip_digest = Sha256::digest(&zip);
    write_atomic(&zip_path, &zip)?;
    let record = Record {
        format: FORMAT,
        binary_sha256,
        zip_sha256: hex(&zip_digest),
    };
    let mut json = serde_json::to_vec_pretty(&record).map_err(|error| BuildError::Io {
        action: "write",
        path: record_path.clone(),
        source: error.into(),
    })?;
    json.push(b'\n');
    write_atomic(&record_path, &json)?;
    Ok(artifact(&zip, &zip_digest, false))
}

/// Writes `path` through a temporary file in the same directory and a rename.
fn write_atomic(path: &Path, contents: &[u8]) -> Result<(), BuildError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(BuildError::io("write", path))?;
    file.write_all(contents)
        .and_then(|()| file.as_file().sync_all())
        .map_err(BuildError::io("write", path))?;
    file.persist(path)
        .map_err(|error| BuildError::io("write", path)(error.error))?;
    Ok(())
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut text, byte| {
            let _ = write!(text, "{byte:02x}");
            text
        })
}
