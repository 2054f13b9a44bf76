//! `cargo pluto logs FUNCTION [--follow] [--since DURATION]`: prints one function's log lines. By
//! default those of the stack's `cargo pluto run` (its current, or last, run's
//! `logs/<function>.log`, see [`crate::local_run`]); with `--deployed`, the CloudWatch Logs of the
//! function deployed in the stack. `--follow` keeps printing lines as they are written.
//!
//! Lines print as `HH:MM:SS.mmm #INSTANCE REQUEST LINE` (UTC; the request id shortened to 8
//! characters) for the simulator, `HH:MM:SS.mmm [STREAM] MESSAGE` for CloudWatch (the log stream,
//! one per Lambda instance, shortened to 8 characters).

use crate::error::CliError;
use crate::invoke::{TargetArgs, aws_failure, missing_on_aws, running_functions, unknown_function};
use crate::local_run::{LOGS_DIR, LogRecord, RunInfo, log_path, now_ms, previous_log_path};
use crate::project::ProjectArgs;
use aws_sdk_cloudwatchlogs::types::FilteredLogEvent;
use pluto_model::naming::StackNames;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How often `--follow` looks for new lines in the simulator's log.
const LOCAL_POLL: Duration = Duration::from_millis(200);
/// How often `--follow --deployed` asks CloudWatch Logs (`FilterLogEvents` allows a few calls a
/// second per account).
const CLOUDWATCH_POLL: Duration = Duration::from_secs(1);
/// How far back `--deployed` looks without `--since`.
const DEPLOYED_DEFAULT_SINCE: Duration = Duration::from_secs(10 * 60);

/// Arguments of `cargo pluto logs`.
#[derive(Debug, clap::Args)]
pub(crate) struct LogsArgs {
    /// The function, by its name in the app, e.g. `chatbot`.
    #[arg(value_name = "FUNCTION")]
    function: String,
    /// Keep printing lines as they are written (Ctrl-C to stop).
    #[arg(long, short)]
    follow: bool,
    /// Only lines of the last DURATION: `30s`, `10m`, `2h`, `1d` (default: the whole run; with
    /// --deployed, the last 10 minutes).
    #[arg(long, value_name = "DURATION")]
    since: Option<String>,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn run(args: &LogsArgs) -> Result<(), CliError> {
    let since = args.since.as_deref().map(parse_duration).transpose()?;
    if args.target.deployed {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        runtime.block_on(deployed_logs(args, since.unwrap_or(DEPLOYED_DEFAULT_SINCE)))
    } else {
        local_logs(args, since)
    }
}

/// `30s`, `10m`, `2h`, `1d` (a number alone is seconds).
fn parse_duration(text: &str) -> Result<Duration, CliError> {
    let bad = || CliError::BadSince(text.to_owned());
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let number: u64 = number.parse().map_err(|_| bad())?;
    let seconds = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// `HH:MM:SS.mmm` (UTC) of a time in milliseconds since the Unix epoch.
fn time_of_day(at_ms: u64) -> String {
    let ms = at_ms % 1000;
    let seconds = (at_ms / 1000) % 86400;
    format!(
        "{:02}:{:02}:{:02}.{ms:03}",
        seconds / 3600,
        (seconds / 60) % 60,
        seconds % 60
    )
}

/// One simulator log line, human-readable.
fn format_record(record: &LogRecord) -> String {
    let request: String = record
        .request_id
        .as_deref()
        .map_or_else(|| "-".to_owned(), |id| id.chars().take(8).collect());
    format!(
        "{} #{} {request:<8} {}",
        time_of_day(record.at_ms),
        record.instance,
        record.line
    )
}

/// Whether `name` is a valid function name (the declaration rule); anything else cannot have a log file (and must not
/// become a path).
fn is_function_name(name: &str) -> bool {
    pluto_spec::names::check_resource_name(name).is_ok()
}

/// The functions with a log in `<stack_dir>/logs/` (this run's or the last one's).
fn logged_functions(stack_dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(stack_dir.join(LOGS_DIR))
        .map(|entries| {
            entries
                .flatten()
                .filter_map(|entry| {
                    let name = entry.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".log")
                        .or_else(|| name.strip_suffix(".log.1"))
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.dedup();
    names
}

/// The simulator's log of a function.
fn local_logs(args: &LogsArgs, since: Option<Duration>) -> Result<(), CliError> {
    let (_, package_root) = args.project.package_name()?;
    let stack_dir = args.project.stack_dir(&package_root);
    let running = RunInfo::read(&stack_dir);
    let function = &args.function;
    let path = log_path(&stack_dir, function);
    // The app's functions: those the run serves, else those with a log of an earlier run.
    let known = match &running {
        Ok(run) => {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(CliError::Runtime)?;
            runtime.block_on(running_functions(run))?
        }
        Err(_) => logged_functions(&stack_dir),
    };
    if !is_function_name(function) || !(known.is_empty() || known.contains(function)) {
        return Err(unknown_function(function, &known));
    }
    if !path.exists() && !args.follow {
        return match running {
            Err(not_running) if known.is_empty() => Err(not_running),
            _ => {
                eprintln!("[pluto] `{function}` has written no log line in this run yet");
                Ok(())
            }
        };
    }
    if running.is_err() {
        if previous_log_path(&stack_dir, function).exists() || path.exists() {
            eprintln!(
                "[pluto] no `cargo pluto run` of stack `{}` is running: these are its last run's \
                 lines",
                args.project.stack
            );
        } else {
            eprintln!(
                "[pluto] no `cargo pluto run` of stack `{}` is running yet; waiting for one",
                args.project.stack
            );
        }
    }
    let since_ms = since
        .map(|since| now_ms().saturating_sub(u64::try_from(since.as_millis()).unwrap_or(u64::MAX)));
    let mut tail = Tail::new(path);
    let mut stdout = std::io::stdout().lock();
    loop {
        for line in tail.read_lines()? {
            let text = match serde_json::from_str::<LogRecord>(&line) {
                Ok(record) if since_ms.is_some_and(|since| record.at_ms < since) => continue,
                Ok(record) => format_record(&record),
                // Not written by `cargo pluto run`: shown as it is.
                Err(_) => line,
            };
            // A closed stdout (e.g. `| head`) ends the command.
            if writeln!(stdout, "{text}").is_err() {
                return Ok(());
            }
        }
        if !args.follow {
            return Ok(());
        }
        if stdout.flush().is_err() {
            return Ok(());
        }
        std::thread::sleep(LOCAL_POLL);
    }
}

/// Reads the lines appended to a log file, following it when a new run replaces it (renames it
/// to `.log.1` and starts a new one) or truncates it.
#[derive(Debug)]
struct Tail {
    path: PathBuf,
    /// The file being read, its identity, and how far it was read.
    file: Option<(File, Option<FileIdentity>, u64)>,
    /// The end of the file after its last newline (a line being written).
    partial: Vec<u8>,
}

/// Device and inode: what tells a new file at the same path from the old one.
type FileIdentity = (u64, u64);

#[cfg(unix)]
fn identity(metadata: &std::fs::Metadata) -> Option<FileIdentity> {
    use std::os::unix::fs::MetadataExt;
    Some((metadata.dev(), metadata.ino()))
}

#[cfg(not(unix))]
fn identity(_metadata: &std::fs::Metadata) -> Option<FileIdentity> {
    None
}

fn read_error(path: &Path, source: std::io::Error) -> CliError {
    CliError::Read {
        what: path.display().to_string(),
        source,
    }
}

impl Tail {
    fn new(path: PathBuf) -> Self {
        Self {
            path,
            file: None,
            partial: Vec::new(),
        }
    }

    /// The complete lines written since the last call.
    fn read_lines(&mut self) -> Result<Vec<String>, CliError> {
        let mut lines = Vec::new();
        // Twice at most: the rest of a replaced file, then the new one.
        for _ in 0..2 {
            if self.file.is_none() {
                match File::open(&self.path) {
                    Ok(file) => {
                        let id = file.metadata().ok().as_ref().and_then(identity);
                        self.file = Some((file, id, 0));
                        self.partial.clear();
                    }
                    Err(error) if error.kind() == std::io::ErrorKind::NotFound => break,
                    Err(error) => return Err(read_error(&self.path, error)),
                }
            }
            let Some((file, id, offset)) = self.file.as_mut() else {
                break;
            };
            let length = file
                .metadata()
                .map_err(|e| read_error(&self.path, e))?
                .len();
            if length < *offset {
                // Truncated: read it again from the start.
                *offset = 0;
                self.partial.clear();
            }
            file.seek(SeekFrom::Start(*offset))
                .map_err(|e| read_error(&self.path, e))?;
            let mut bytes = Vec::new();
            let read = file
                .read_to_end(&mut bytes)
                .map_err(|e| read_error(&self.path, e))?;
            *offset += read as u64;
            let id = *id;
            self.partial.extend_from_slice(&bytes);
            while let Some(newline) = self.partial.iter().position(|byte| *byte == b'\n') {
                let line: Vec<u8> = self.partial.drain(..=newline).collect();
                let text = String::from_utf8_lossy(&line[..newline]);
                if !text.trim().is_empty() {
                    lines.push(text.into_owned());
                }
            }
            // Replaced (the file at the path is another one, or none): the old one is read to
            // its end; go on with the new one.
            let current = std::fs::metadata(&self.path).ok();
            let replaced = match (&current, id) {
                (None, _) => true,
                (Some(metadata), Some(id)) => identity(metadata) != Some(id),
                (Some(_), None) => false,
            };
            if !replaced {
                break;
            }
            self.file = None;
        }
        Ok(lines)
    }
}

/// The short name of a Lambda log stream (`2024/05/01/[$LATEST]0123abcd...`): 8 characters of
/// the part that differs between instances.
fn short_stream(stream: &str) -> String {
    let id = stream.rsplit(']').next().unwrap_or(stream);
    id.chars().take(8).collect()
}

/// One CloudWatch event, human-readable.
fn format_event(event: &FilteredLogEvent) -> String {
    format!(
        "{} [{}] {}",
        time_of_day(
            event
                .timestamp()
                .and_then(|at| u64::try_from(at).ok())
                .unwrap_or_default()
        ),
        short_stream(event.log_stream_name().unwrap_or_default()),
        event
            .message()
            .unwrap_or_default()
            .trim_end_matches(['\n', '\r'])
    )
}

/// The function's CloudWatch Logs in the deployed stack.
async fn deployed_logs(args: &LogsArgs, since: Duration) -> Result<(), CliError> {
    let function = &args.function;
    let (project, _) = args.project.package_name()?;
    let names = StackNames::new(&project, &args.project.stack).map_err(CliError::BadStack)?;
    let group = names.function_log_group(function);
    let config = args.target.aws_config().await?;
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let lambda = aws_sdk_lambda::Client::new(&config);
    let mut start_ms = now_ms().saturating_sub(u64::try_from(since.as_millis()).unwrap_or(0));
    // Events already printed, by id, with their time: CloudWatch returns an event again while
    // `startTime` is not past it.
    let mut printed: BTreeMap<String, u64> = BTreeMap::new();
    let mut explained = false;
    let mut stdout = std::io::stdout().lock();
    loop {
        match filter_events(&logs, &group, start_ms).await {
            Ok(mut events) => {
                events
                    .sort_by_key(|event| (event.timestamp(), event.event_id().map(str::to_owned)));
                for event in &events {
                    let at = event
                        .timestamp()
                        .and_then(|at| u64::try_from(at).ok())
                        .unwrap_or_default();
                    let id = event.event_id().unwrap_or_default().to_owned();
                    if printed.insert(id, at).is_some() {
                        continue;
                    }
                    start_ms = start_ms.max(at);
                    if writeln!(stdout, "{}", format_event(event)).is_err() {
                        return Ok(());
                    }
                }
                printed.retain(|_, at| *at >= start_ms);
            }
            Err(FilterError::NoLogGroup) => {
                if !explained {
                    explain_missing_group(args, &names, &lambda, &group).await?;
                    explained = true;
                }
                if !args.follow {
                    return Ok(());
                }
            }
            Err(FilterError::Failed(error)) => return Err(error),
        }
        if !args.follow || stdout.flush().is_err() {
            return Ok(());
        }
        tokio::time::sleep(CLOUDWATCH_POLL).await;
    }
}

/// Why `FilterLogEvents` found nothing.
enum FilterError {
    /// The function's log group does not exist.
    NoLogGroup,
    /// Any other failure.
    Failed(CliError),
}

/// Every event of `group` from `start_ms` on (all pages).
async fn filter_events(
    logs: &aws_sdk_cloudwatchlogs::Client,
    group: &str,
    start_ms: u64,
) -> Result<Vec<FilteredLogEvent>, FilterError> {
    let mut pages = logs
        .filter_log_events()
        .log_group_name(group)
        .start_time(i64::try_from(start_ms).unwrap_or(i64::MAX))
        .into_paginator()
        .send();
    let mut events = Vec::new();
    while let Some(page) = pages.next().await {
        match page {
            Ok(page) => events.extend(page.events().iter().cloned()),
            Err(error)
                if error
                    .as_service_error()
                    .is_some_and(|error| error.is_resource_not_found_exception()) =>
            {
                return Err(FilterError::NoLogGroup);
            }
            Err(error) => {
                return Err(FilterError::Failed(aws_failure(
                    "logs:FilterLogEvents",
                    format!("log group {group}"),
                    &error,
                )));
            }
        }
    }
    Ok(events)
}

/// A function without a log group: an error when it is not deployed (or not in the app); a note
/// when it is, as it has not run yet (Lambda creates the group at its first log line).
async fn explain_missing_group(
    args: &LogsArgs,
    names: &StackNames,
    lambda: &aws_sdk_lambda::Client,
    group: &str,
) -> Result<(), CliError> {
    let physical = names.function(&args.function);
    match lambda.get_function().function_name(&physical).send().await {
        Ok(_) => {
            eprintln!(
                "[pluto] `{}` has no log group `{group}` yet: it has not run since it was \
                 deployed{}",
                args.function,
                if args.follow { "; waiting" } else { "" }
            );
            Ok(())
        }
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_resource_not_found_exception()) =>
        {
            Err(missing_on_aws(&args.project, names, &args.function))
        }
        Err(error) => Err(aws_failure(
            "lambda:GetFunction",
            format!("Lambda function {physical}"),
            &error,
        )),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn durations_have_a_unit() {
        assert_eq!(parse_duration("10m").unwrap(), Duration::from_secs(600));
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("45").unwrap(), Duration::from_secs(45));
        assert_eq!(parse_duration("2h").unwrap(), Duration::from_secs(7200));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86400));
        for bad in ["", "m", "10 minutes", "-1m", "1.5h"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn records_print_with_time_instance_and_short_request_id() {
        // 2023-11-14T22:13:20.123Z
        let record = LogRecord {
            at_ms: 1_700_000_000_123,
            instance: 3,
            request_id: Some("b1f0c2d3-e4f5".to_owned()),
            line: "hello".to_owned(),
        };
        assert_eq!(format_record(&record), "22:13:20.123 #3 b1f0c2d3 hello");
        let record = LogRecord {
            request_id: None,
            ..record
        };
        assert_eq!(format_record(&record), "22:13:20.123 #3 -        hello");
        assert_eq!(
            short_stream("2024/05/01/[$LATEST]0123456789abcdef"),
            "01234567"
        );
    }

    #[test]
    fn function_names_never_become_paths() {
        assert!(is_function_name("chat-bot2"));
        for bad in ["", "../x", "Chat", "a/b", "2fa", "a.log"] {
            assert!(!is_function_name(bad), "{bad}");
        }
    }
}
