//! Helpers of the tests: tiny crates in temporary directories, built with the cargo that runs
//! the tests, the fixture crates in tests/fixtures/, and what to say when cargo-zigbuild is
//! missing.

#![allow(dead_code, unreachable_pub)]

use std::path::{Path, PathBuf};

/// How to get the tools the zigbuild tests need.
pub const TOOLS_HINT: &str = "cargo-zigbuild and zig are needed for this test: run scripts/test, \
     which installs them into .cache/ and puts them on PATH (afterwards, `export \
     PATH=$PWD/.cache/tools/bin:$PWD/.cache/venv/bin:$PATH` lets `cargo test -p pluto-build` find \
     them), or install them with `cargo install --locked cargo-zigbuild` and `pip install ziglang`";

/// A crate in a temporary directory, with its own `[workspace]` so no parent workspace claims it.
#[derive(Debug)]
pub struct TinyCrate {
    pub dir: tempfile::TempDir,
}

impl TinyCrate {
    /// A binary crate `name` with `main` as src/main.rs and `extra_bins` as src/bin/<name>.rs.
    pub fn new(name: &str, main: &str, extra_bins: &[&str]) -> TinyCrate {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join("Cargo.toml"),
            format!(
                "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2024\"\n\n\
                 [workspace]\n\n[profile.release]\nstrip = \"symbols\"\n"
            ),
        )
        .expect("write Cargo.toml");
        std::fs::create_dir_all(dir.path().join("src/bin")).expect("mkdir src/bin");
        std::fs::write(dir.path().join("src/main.rs"), main).expect("write main.rs");
        for bin in extra_bins {
            std::fs::write(
                dir.path().join(format!("src/bin/{bin}.rs")),
                "fn main() {}\n",
            )
            .expect("write bin");
        }
        TinyCrate { dir }
    }

    /// A hello world.
    pub fn hello(name: &str) -> TinyCrate {
        TinyCrate::new(
            name,
            "fn main() {\n    println!(\"hello from Lambda\");\n}\n",
            &[],
        )
    }

    /// A binary that calls `arc4random`, which glibc has had only since 2.36: linked against
    /// this machine's glibc (2.36 on Debian 12) it needs `GLIBC_2.36`.
    pub fn needs_glibc_2_36(name: &str) -> TinyCrate {
        TinyCrate::new(
            name,
            "unsafe extern \"C\" {\n    fn arc4random() -> u32;\n}\n\n\
             fn main() {\n    println!(\"{}\", unsafe { arc4random() });\n}\n",
            &[],
        )
    }

    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("Cargo.toml")
    }

    pub fn out_dir(&self) -> PathBuf {
        self.dir.path().join(".pluto/dev/build")
    }

    /// Builds it for this machine in release with [`pluto_build::build_host`] and returns the
    /// executable.
    pub fn host_build(&self, bin: &str) -> PathBuf {
        let binary = pluto_build::build_host(&pluto_build::HostBuild {
            manifest_path: self.manifest(),
            bin: Some(bin.to_owned()),
            release: true,
            quiet: true,
            ..pluto_build::HostBuild::default()
        })
        .unwrap_or_else(|error| panic!("cargo build of the tiny crate failed: {error}"));
        assert!(
            binary.starts_with(self.dir.path().join("target/release")),
            "{}",
            binary.display()
        );
        binary
    }
}

/// The fixture crate `tests/fixtures/<name>` (one per case, each its own workspace).
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
        .join("Cargo.toml")
}

/// A target dir for the fixture `name` under the workspace's `target/`, kept between runs so an
/// unchanged fixture is not rebuilt.
pub fn fixture_target_dir(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../target/pluto-build-fixtures")
        .join(name)
}

/// The entries of a zip: (name, unix mode, contents).
pub fn zip_entries(zip: &Path) -> Vec<(String, Option<u32>, Vec<u8>)> {
    let file = std::fs::File::open(zip).expect("open zip");
    let mut archive = zip::ZipArchive::new(file).expect("read zip");
    (0..archive.len())
        .map(|index| {
            let mut entry = archive.by_index(index).expect("zip entry");
            let mut contents = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut contents).expect("read zip entry");
            (
                entry.name().expect("entry name").into_owned(),
                entry.unix_mode(),
                contents,
            )
        })
        .collect()
}
