//! Checks that an executable can run on Lambda: a 64-bit ELF for the function's architecture
//! whose glibc symbol versions (`.gnu.version_r`, the version needs) are all provided by the
//! glibc 2.34 of `provided.al2023`.
//!
//! Besides `GLIBC_x.y[.z]`, glibc has ABI markers: `GLIBC_ABI_DT_RELR` (packed relocations,
//! glibc 2.36) counts as 2.36; any other `GLIBC_ABI_*` is unknown to this check and refused as
//! too new. `GLIBC_PRIVATE` is ignored.

use crate::{Arch, BuildError, LAMBDA_GLIBC, cargo};
use object::elf::{EM_AARCH64, EM_X86_64, Machine};
use object::read::elf::{ElfFile64, FileHeader};
use object::{Endianness, FileKind};
use std::path::Path;

/// Checks the executable at `path` for Lambda `arch` and returns the highest glibc version it
/// needs (`None` when it needs none, e.g. a static musl binary).
///
/// Errors: [`BuildError::NotElf`], [`BuildError::WrongMachine`], [`BuildError::GlibcTooNew`].
pub fn check_binary(path: &Path, arch: Arch) -> Result<Option<(u32, u32)>, BuildError> {
    let bytes = std::fs::read(path).map_err(BuildError::io("read", path))?;
    check_elf(&bytes, path, arch, &cargo::glibc_advice(None, None))
}

/// [`check_binary`] on bytes already read; `advice` goes into a [`BuildError::GlibcTooNew`].
pub(crate) fn check_elf(
    bytes: &[u8],
    path: &Path,
    arch: Arch,
    advice: &str,
) -> Result<Option<(u32, u32)>, BuildError> {
    let not_elf = |detail: String| BuildError::NotElf {
        path: path.to_path_buf(),
        detail,
    };
    match FileKind::parse(bytes) {
        Ok(FileKind::Elf64) => {}
        Ok(kind) => return Err(not_elf(format!("it is {kind:?}"))),
        Err(error) => return Err(not_elf(error.to_string())),
    }
    let file = ElfFile64::<Endianness>::parse(bytes).map_err(|error| not_elf(error.to_string()))?;
    let endian = file.endian();
    let machine = file.elf_header().e_machine(endian);
    let expected = match arch {
        Arch::X86_64 => EM_X86_64,
        Arch::Arm64 => EM_AARCH64,
    };
    if machine != expected {
        return Err(BuildError::WrongMachine {
            path: path.to_path_buf(),
            expected: arch,
            found: machine_name(machine),
        });
    }

    let too_new = |needs: String| BuildError::GlibcTooNew {
        path: path.to_path_buf(),
        needs,
        advice: advice.to_string(),
    };
    let malformed = |error: object::Error| not_elf(format!("malformed version needs: {error}"));
    let sections = file.elf_section_table();
    let mut max: Option<((u32, u32), String)> = None;
    if let Some((mut needs, link)) = sections.gnu_verneed(endian, bytes).map_err(malformed)? {
        let strings = sections.strings(endian, bytes, link).map_err(malformed)?;
        while let Some((_, mut auxes)) = needs.next().map_err(malformed)? {
            while let Some(aux) = auxes.next().map_err(malformed)? {
                let name = String::from_utf8_lossy(aux.name(endian, strings).map_err(malformed)?);
                let version = match glibc_version(&name) {
                    Glibc::Version(version) => version,
                    Glibc::Unknown => return Err(too_new(name.into_owned())),
                    Glibc::Other => continue,
                };
                if max.as_ref().is_none_or(|(highest, _)| version > *highest) {
                    max = Some((version, name.into_owned()));
                }
            }
        }
    }
    match max {
        Some((version, name)) if version > LAMBDA_GLIBC => Err(too_new(name)),
        max => Ok(max.map(|(version, _)| version)),
    }
}

/// What one version-need name means.
#[derive(Debug, PartialEq, Eq)]
enum Glibc {
    /// `GLIBC_x.y[.z]`, or an ABI marker of a known glibc version.
    Version((u32, u32)),
    /// A `GLIBC_*` name this check does not know.
    Unknown,
    /// Another library's version (e.g. `GCC_3.0`), or `GLIBC_PRIVATE`.
    Other,
}

fn glibc_version(name: &str) -> Glibc {
    let Some(rest) = name.strip_prefix("GLIBC_") else {
        return Glibc::Other;
    };
    match rest {
        "PRIVATE" => return Glibc::Other,
        "ABI_DT_RELR" => return Glibc::Version((2, 36)),
        _ => {}
    }
    let mut parts = rest.split('.');
    match (
        parts.next().and_then(|part| part.parse().ok()),
        parts.next().and_then(|part| part.parse().ok()),
    ) {
        (Some(major), Some(minor)) => Glibc::Version((major, minor)),
        _ => Glibc::Unknown,
    }
}

fn machine_name(machine: Machine) -> String {
    match machine {
        EM_X86_64 => "x86_64".to_string(),
        EM_AARCH64 => "arm64 (aarch64)".to_string(),
        other => format!("ELF machine {}", other.0),
    }
}

#[cfg(test)]
mod tests {
    use super::{Glibc, glibc_version};

    #[test]
    fn version_names() {
        assert_eq!(glibc_version("GLIBC_2.34"), Glibc::Version((2, 34)));
        assert_eq!(glibc_version("GLIBC_2.2.5"), Glibc::Version((2, 2)));
        assert_eq!(glibc_version("GLIBC_ABI_DT_RELR"), Glibc::Version((2, 36)));
        assert_eq!(glibc_version("GLIBC_ABI_GNU2_TLS"), Glibc::Unknown);
        assert_eq!(glibc_version("GLIBC_PRIVATE"), Glibc::Other);
        assert_eq!(glibc_version("GCC_3.0"), Glibc::Other);
    }
}
