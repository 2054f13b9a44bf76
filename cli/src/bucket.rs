//! `cargo pluto bucket upload BUCKET DIR`: seeds a bucket of the app (`#[resource(bucket)]`)
//! with the files of a local folder, each streamed from disk as one object whose key is its path
//! under the folder (`guides/setup.txt`), optionally under `--prefix`.
//!
//! Locally it goes through the running `cargo pluto run`'s console
//! (`POST /_pluto/api/buckets/BUCKET/upload`, the file read by the simulator from disk); with
//! `--deployed`, S3 `PutObject` into the stack's bucket on AWS. This is the developer's access,
//! not a function's: no function's grant is needed or used.

use crate::error::CliError;
use crate::invoke::{TargetArgs, aws_failure, console_client};
use crate::local_run::RunInfo;
use crate::project::{ProjectArgs, check_declared};
use pluto_model::naming::StackNames;
use pluto_spec::ResourceKind;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

/// Arguments of `cargo pluto bucket`.
#[derive(Debug, clap::Args)]
pub(crate) struct BucketArgs {
    #[command(subcommand)]
    command: BucketCommand,
}

#[derive(Debug, clap::Subcommand)]
enum BucketCommand {
    /// Uploads every file under a folder into a bucket, one object per file.
    Upload(UploadArgs),
}

/// Arguments of `cargo pluto bucket upload`.
#[derive(Debug, clap::Args)]
struct UploadArgs {
    /// The bucket, by its name in the app (`#[resource(bucket(name = ...))]`, else the declaring
    /// function's name), e.g. `docs`.
    #[arg(value_name = "BUCKET")]
    bucket: String,
    /// The folder whose files (recursively; hidden ones skipped) become objects.
    #[arg(value_name = "DIR")]
    dir: PathBuf,
    /// Put every key under this prefix, e.g. `library/`.
    #[arg(long, default_value = "")]
    prefix: String,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn run(args: &BucketArgs) -> Result<(), CliError> {
    match &args.command {
        BucketCommand::Upload(args) => upload(args),
    }
}

/// One file to upload.
#[derive(Debug)]
struct Upload {
    key: String,
    path: PathBuf,
    content_type: &'static str,
}

fn upload(args: &UploadArgs) -> Result<(), CliError> {
    let deduction = args.project.deduce()?;
    let architecture = &deduction.architecture;
    check_declared(
        architecture,
        ResourceKind::Bucket,
        &args.bucket,
        |bucket, available| CliError::UnknownBucket { bucket, available },
    )?;
    let dir = std::path::absolute(&args.dir).map_err(|source| CliError::Read {
        what: format!("the folder {}", args.dir.display()),
        source,
    })?;
    let mut uploads = Vec::new();
    collect(&dir, &dir, &args.prefix, &mut uploads)?;
    if uploads.is_empty() {
        return Err(CliError::NothingToUpload(dir));
    }
    let names =
        StackNames::new(&architecture.project, &args.project.stack).map_err(CliError::BadStack)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(CliError::Runtime)?;
    let (bytes, place) = if args.target.deployed {
        runtime.block_on(upload_deployed(args, &names, &uploads))?
    } else {
        let run = RunInfo::read(&args.project.stack_dir(&deduction.package_root))?;
        (
            runtime.block_on(upload_local(&run, &args.bucket, &uploads))?,
            "the running `cargo pluto run`".to_owned(),
        )
    };
    eprintln!(
        "[pluto] uploaded {} file{} ({bytes} bytes) into bucket `{}` of stack `{}` ({place})",
        uploads.len(),
        if uploads.len() == 1 { "" } else { "s" },
        args.bucket,
        names.stack()
    );
    Ok(())
}

/// Every non-hidden file under `dir`, in path order, keyed by its `/`-separated path under
/// `root` after `prefix`.
fn collect(root: &Path, dir: &Path, prefix: &str, out: &mut Vec<Upload>) -> Result<(), CliError> {
    let unreadable = |source| CliError::Read {
        what: format!("the folder {}", dir.display()),
        source,
    };
    let mut entries = std::fs::read_dir(dir)
        .map_err(unreadable)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    entries.sort_by_key(std::fs::DirEntry::path);
    for entry in entries {
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        // Symbolic links are followed to files only: a link to a folder could loop.
        let file_type = entry.file_type().map_err(unreadable)?;
        if file_type.is_dir() {
            collect(root, &path, prefix, out)?;
            continue;
        }
        if !path.is_file() {
            eprintln!(
                "[pluto] skipped {} (not a file, or a link to a folder)",
                path.display()
            );
            continue;
        }
        let relative = path.strip_prefix(root).unwrap_or(&path);
        let key: Vec<String> = relative
            .components()
            .map(|part| part.as_os_str().to_string_lossy().into_owned())
            .collect();
        out.push(Upload {
            key: format!("{prefix}{}", key.join("/")),
            content_type: content_type(&path),
            path,
        });
    }
    Ok(())
}

/// The content type of a file, by its extension.
fn content_type(path: &Path) -> &'static str {
    let extension = path
        .extension()
        .map(|extension| extension.to_string_lossy().to_ascii_lowercase());
    match extension.as_deref() {
        Some("txt") => "text/plain; charset=utf-8",
        Some("md") => "text/markdown; charset=utf-8",
        Some("csv") => "text/csv; charset=utf-8",
        Some("html" | "htm") => "text/html; charset=utf-8",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        _ => "application/octet-stream",
    }
}

/// Through the console of the running `cargo pluto run`; the bytes uploaded.
async fn upload_local(run: &RunInfo, bucket: &str, uploads: &[Upload]) -> Result<u64, CliError> {
    let client = console_client()?;
    let url = format!("{}api/buckets/{bucket}/upload", run.console_url);
    let mut bytes = 0;
    for upload in uploads {
        let failed = |problem: String| CliError::Console {
            url: url.clone(),
            problem,
        };
        let response = client
            .post(&url)
            .json(&json!({
                "key": upload.key,
                "path": upload.path,
                "content_type": upload.content_type,
            }))
            .send()
            .await
            .map_err(|error| failed(format!("did not answer: {error}")))?;
        let status = response.status();
        let body: Value = response
            .json()
            .await
            .map_err(|error| failed(format!("answered with no JSON: {error}")))?;
        if !status.is_success() {
            let message = body["error"]["message"].as_str().unwrap_or("no message");
            return Err(failed(format!(
                "refused `{}` ({status}): {message}",
                upload.key
            )));
        }
        bytes += body["size"].as_u64().unwrap_or_default();
        eprintln!("[pluto] {} ({} bytes)", upload.key, body["size"]);
    }
    Ok(bytes)
}

/// S3 `PutObject` of each file into the stack's bucket on AWS, streamed from disk; the bytes
/// uploaded and where.
async fn upload_deployed(
    args: &UploadArgs,
    names: &StackNames,
    uploads: &[Upload],
) -> Result<(u64, String), CliError> {
    let config = args.target.aws_config().await?;
    let aws = pluto_aws_engine::from_config(&config).await?;
    let names = names
        .clone()
        .in_account(aws.target.account(), aws.target.region());
    let physical = names.bucket(&args.bucket);
    let mut bytes = 0;
    for upload in uploads {
        let body = aws_sdk_s3::primitives::ByteStream::from_path(&upload.path)
            .await
            .map_err(|error| CliError::Read {
                what: upload.path.display().to_string(),
                source: std::io::Error::other(error),
            })?;
        let size = body.size_hint().0;
        match aws
            .s3
            .put_object()
            .bucket(&physical)
            // The name is predictable: never write into a bucket another account made first.
            .expected_bucket_owner(aws.target.account())
            .key(&upload.key)
            .content_type(upload.content_type)
            .body(body)
            .send()
            .await
        {
            Ok(_) => {}
            Err(error)
                if error
                    .as_service_error()
                    .and_then(aws_sdk_s3::error::ProvideErrorMetadata::code)
                    == Some("NoSuchBucket") =>
            {
                return Err(CliError::BucketNotDeployed {
                    bucket: args.bucket.clone(),
                    stack: names.stack().to_owned(),
                    physical,
                });
            }
            Err(error) => {
                return Err(aws_failure(
                    "s3:PutObject",
                    format!("s3://{physical}/{}", upload.key),
                    &error,
                ));
            }
        }
        bytes += size;
        eprintln!("[pluto] {} ({size} bytes)", upload.key);
    }
    Ok((bytes, format!("s3://{physical}")))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn files_become_keys_by_their_path_hidden_ones_skipped() {
        let root = std::env::temp_dir().join(format!("pluto-upload-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("guides/.git")).unwrap();
        std::fs::write(root.join("a.txt"), "a").unwrap();
        std::fs::write(root.join("guides/setup.md"), "s").unwrap();
        std::fs::write(root.join("guides/.git/HEAD"), "x").unwrap();
        std::fs::write(root.join(".env"), "secret").unwrap();
        let mut uploads = Vec::new();
        collect(&root, &root, "lib/", &mut uploads).unwrap();
        let keys: Vec<(&str, &str)> = uploads
            .iter()
            .map(|upload| (upload.key.as_str(), upload.content_type))
            .collect();
        assert_eq!(
            keys,
            [
                ("lib/a.txt", "text/plain; charset=utf-8"),
                ("lib/guides/setup.md", "text/markdown; charset=utf-8")
            ]
        );
        std::fs::remove_dir_all(&root).unwrap();
    }
}
