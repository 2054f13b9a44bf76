//! What a running `cargo pluto run` leaves in its stack directory for the other commands
//! (`cargo pluto invoke`, `cargo pluto logs`): `run.json` (where its console, gateway and local
//! AWS APIs listen, and its process id) and `logs/<function>.log`, the functions' log lines as
//! JSON Lines. A run keeps its previous run's log as `<function>.log.1`.

use crate::error::CliError;
use crate::project::write_atomically;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// The file a running `cargo pluto run` describes itself in, in the stack directory.
pub(crate) const RUN_FILE: &str = "run.json";
/// The directory of the functions' logs, in the stack directory.
pub(crate) const LOGS_DIR: &str = "logs";

/// A running `cargo pluto run`: written to `<stack_dir>/run.json` when it has started, removed
/// when it stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RunInfo {
    /// The `cargo pluto run` process.
    pub(crate) pid: u32,
    /// The dev console, e.g. `http://127.0.0.1:9000/_pluto/` (ends with `/`).
    pub(crate) console_url: String,
    /// The Function URL gateway, e.g. `http://127.0.0.1:9000`.
    pub(crate) gateway_url: String,
    /// The local AWS APIs.
    pub(crate) aws_endpoint: String,
    /// When the run started, in milliseconds since the Unix epoch.
    pub(crate) started_ms: u64,
}

impl RunInfo {
    /// Writes `<stack_dir>/run.json` (atomically).
    pub(crate) fn write(&self, stack_dir: &Path) -> Result<(), CliError> {
        let json = serde_json::to_string_pretty(self).unwrap_or_default();
        write_atomically(&stack_dir.join(RUN_FILE), &format!("{json}\n"))
    }

    /// Removes `<stack_dir>/run.json`; nothing to do when it is not there.
    pub(crate) fn remove(stack_dir: &Path) -> Result<(), CliError> {
        let path = stack_dir.join(RUN_FILE);
        match std::fs::remove_file(&path) {
            Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(CliError::Write {
                path,
                source: error,
            }),
            _ => Ok(()),
        }
    }

    /// The run of the stack whose directory is `stack_dir`, if one is running: its `run.json`
    /// exists and names a live process (one killed without cleaning up leaves a stale file).
    pub(crate) fn read(stack_dir: &Path) -> Result<RunInfo, CliError> {
        let not_running = || CliError::NotRunning {
            stack: stack_dir
                .file_name()
                .map(|name| name.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        let text = std::fs::read_to_string(stack_dir.join(RUN_FILE)).map_err(|_| not_running())?;
        let info: RunInfo = serde_json::from_str(&text).map_err(|_| not_running())?;
        if process_is_alive(info.pid) {
            Ok(info)
        } else {
            Err(not_running())
        }
    }
}

/// Whether process `pid` exists and is a `cargo pluto` (a stale `run.json`'s pid may have been
/// given to another process since). Where there is no `/proc`, a process is taken as alive.
fn process_is_alive(pid: u32) -> bool {
    if !Path::new("/proc/self").exists() {
        return true;
    }
    match std::fs::read(format!("/proc/{pid}/cmdline")) {
        Ok(cmdline) => String::from_utf8_lossy(&cmdline).contains("pluto"),
        Err(_) => false,
    }
}

/// Milliseconds since the Unix epoch, now.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
        })
}

/// One line a function instance wrote, as stored in `logs/<function>.log`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct LogRecord {
    /// When, in milliseconds since the Unix epoch.
    pub(crate) at_ms: u64,
    /// The function's instance (its Lambda process) that wrote it.
    pub(crate) instance: u64,
    /// The request it served then, if it was serving one.
    pub(crate) request_id: Option<String>,
    /// The line, without its newline.
    pub(crate) line: String,
}

/// `<stack_dir>/logs/<function>.log`.
pub(crate) fn log_path(stack_dir: &Path, function: &str) -> PathBuf {
    stack_dir.join(LOGS_DIR).join(format!("{function}.log"))
}

/// The previous run's log of `function`: `<stack_dir>/logs/<function>.log.1`.
pub(crate) fn previous_log_path(stack_dir: &Path, function: &str) -> PathBuf {
    stack_dir.join(LOGS_DIR).join(format!("{function}.log.1"))
}

/// Appends the functions' log lines of one run to `<stack_dir>/logs/<function>.log`, one JSON
/// record ([`LogRecord`]) a line, flushed per line so that `cargo pluto logs --follow` sees each
/// at once. Shared by every instance's log reader.
#[derive(Debug)]
pub(crate) struct FunctionLogs {
    dir: PathBuf,
    files: Mutex<HashMap<String, BufWriter<File>>>,
    /// Whether a failure to write was reported already (once is enough).
    reported: AtomicBool,
}

impl FunctionLogs {
    /// Prepares `<stack_dir>/logs/` for a new run: creates it, and renames every
    /// `<function>.log` of the previous run to `<function>.log.1` (replacing the older one).
    pub(crate) fn open(stack_dir: &Path) -> Result<FunctionLogs, CliError> {
        let dir = stack_dir.join(LOGS_DIR);
        let error = |path: &Path, source| CliError::Write {
            path: path.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(&dir).map_err(|source| error(&dir, source))?;
        let entries = std::fs::read_dir(&dir).map_err(|source| error(&dir, source))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.extension().is_some_and(|extension| extension == "log") {
                let mut previous = path.clone().into_os_string();
                previous.push(".1");
                std::fs::rename(&path, &previous).map_err(|source| error(&path, source))?;
            }
        }
        Ok(FunctionLogs {
            dir,
            files: Mutex::new(HashMap::new()),
            reported: AtomicBool::new(false),
        })
    }

    /// Appends one line `function`'s instance `instance` wrote (while serving `request_id`, if
    /// any). A failure to write is reported on stderr once, and the line is lost.
    pub(crate) fn append(
        &self,
        function: &str,
        instance: u64,
        request_id: Option<&str>,
        line: &str,
    ) {
        let record = LogRecord {
            at_ms: now_ms(),
            instance,
            request_id: request_id.map(str::to_owned),
            line: line.trim_end_matches(['\n', '\r']).to_owned(),
        };
        if let Err(error) = self.write(function, &record)
            && !self.reported.swap(true, Ordering::Relaxed)
        {
            eprintln!(
                "[pluto] warning: could not write the log of `{function}` in {}: {error}",
                self.dir.display()
            );
        }
    }

    fn write(&self, function: &str, record: &LogRecord) -> std::io::Result<()> {
        let mut json = serde_json::to_string(record).map_err(std::io::Error::other)?;
        json.push('\n');
        let mut files = self
            .files
            .lock()
            .map_err(|_| std::io::Error::other("the log files' lock is poisoned"))?;
        let file = match files.entry(function.to_owned()) {
            std::collections::hash_map::Entry::Occupied(entry) => entry.into_mut(),
            std::collections::hash_map::Entry::Vacant(entry) => {
                let file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(self.dir.join(format!("{function}.log")))?;
                entry.insert(BufWriter::new(file))
            }
        };
        file.write_all(json.as_bytes())?;
        file.flush()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// (a fresh app directory to remove afterwards, its stack directory for stack `dev`)
    fn temporary_stack_dir(name: &str) -> (PathBuf, PathBuf) {
        let app = std::env::temp_dir().join(format!(
            "pluto-local-run-{name}-{}-{}",
            std::process::id(),
            now_ms()
        ));
        let stack_dir = app.join(".pluto").join("dev");
        (app, stack_dir)
    }

    #[test]
    fn run_info_is_read_back_while_its_process_lives_and_refused_after() {
        let (app, stack_dir) = temporary_stack_dir("run-info");
        let missing = RunInfo::read(&stack_dir).unwrap_err();
        assert_eq!(
            missing.to_string(),
            "no `cargo pluto run` of stack `dev` is running here"
        );
        let info = RunInfo {
            pid: std::process::id(),
            console_url: "http://127.0.0.1:9000/_pluto/".to_owned(),
            gateway_url: "http://127.0.0.1:9000".to_owned(),
            aws_endpoint: "http://127.0.0.1:9001".to_owned(),
            started_ms: 1,
        };
        info.write(&stack_dir).unwrap();
        assert_eq!(RunInfo::read(&stack_dir).unwrap(), info);
        // A pid no process has (above the kernel's maximum).
        RunInfo {
            pid: u32::MAX,
            ..info
        }
        .write(&stack_dir)
        .unwrap();
        assert!(RunInfo::read(&stack_dir).is_err());
        RunInfo::remove(&stack_dir).unwrap();
        RunInfo::remove(&stack_dir).unwrap();
        assert!(!stack_dir.join(RUN_FILE).exists());
        let _ = std::fs::remove_dir_all(app);
    }

    #[test]
    fn logs_are_json_lines_and_a_new_run_keeps_the_previous_one() {
        let (app, stack_dir) = temporary_stack_dir("logs");
        let logs = FunctionLogs::open(&stack_dir).unwrap();
        logs.append("chat", 1, Some("r1"), "hello\n");
        logs.append("chat", 2, None, "world");
        let text = std::fs::read_to_string(log_path(&stack_dir, "chat")).unwrap();
        let records: Vec<LogRecord> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap())
            .collect();
        assert_eq!(records.len(), 2);
        assert_eq!(
            (records[0].instance, records[0].request_id.as_deref()),
            (1, Some("r1"))
        );
        assert_eq!(records[0].line, "hello");
        assert_eq!(
            (records[1].request_id.as_deref(), records[1].line.as_str()),
            (None, "world")
        );
        drop(logs);

        let logs = FunctionLogs::open(&stack_dir).unwrap();
        assert!(!log_path(&stack_dir, "chat").exists());
        assert_eq!(
            std::fs::read_to_string(previous_log_path(&stack_dir, "chat")).unwrap(),
            text
        );
        logs.append("chat", 3, None, "again");
        assert!(
            std::fs::read_to_string(log_path(&stack_dir, "chat"))
                .unwrap()
                .contains("again")
        );
        let _ = std::fs::remove_dir_all(app);
    }
}
