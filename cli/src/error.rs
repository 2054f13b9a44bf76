//! Errors of the `cargo pluto` commands, with what to do about each.

use std::path::PathBuf;

/// A failed command.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub(crate) enum CliError {
    /// Deduction failed; the deducer's error says why.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Deduce(#[from] pluto_deducer::diagnostics::DeduceError),
    /// `deduce --strict` found conservative grants.
    #[error("{count} grant{} conservative (--strict):\n{grants}", if *.count == 1 { " is" } else { "s are" })]
    #[diagnostic(help(
        "call the handle's operations where the deducer can follow them: in this crate's code, \
         not through another crate, an unknown method or a closure parameter; or drop --strict"
    ))]
    Conservative {
        /// How many.
        count: usize,
        /// One line each.
        grants: String,
    },
    /// The app has errors, already printed above.
    #[error("the app has {errors} error{}", if *.errors == 1 { "" } else { "s" })]
    #[diagnostic(help("fix the errors above and run again"))]
    InvalidApp {
        /// How many.
        errors: usize,
        /// The errors as printed (for the dev console).
        report: String,
    },
    /// A stack name that cannot be part of AWS names.
    #[error(transparent)]
    #[diagnostic(help(
        "stack names are lowercase letters, digits and single `-`, e.g. `dev` or `prod-eu`"
    ))]
    BadStack(pluto_model::naming::NamingError),
    /// The source watcher of hot reload could not start.
    #[error("could not watch the app's sources for hot reload: {0}")]
    #[diagnostic(help(
        "run with --no-watch, or raise the inotify limit (sysctl fs.inotify.max_user_watches)"
    ))]
    Watch(String),
    /// A background task of the command failed (it panicked).
    #[error("a background task failed: {0}")]
    #[diagnostic(help("this is a bug in cargo pluto; please report it with the output above"))]
    Task(String),
    /// The async runtime could not start.
    #[error("could not start the async runtime: {0}")]
    Runtime(std::io::Error),
    /// A listener failed.
    #[error("network error: {0}")]
    Listen(std::io::Error),
    /// The local model could not be prepared.
    #[error("{0}")]
    #[diagnostic(help("pass --model PATH (or set PLUTO_MODEL) to use a llama GGUF you have"))]
    Model(String),
    /// `run` on an app without functions.
    #[error("`{0}` declares no function: there is nothing to run")]
    #[diagnostic(help(
        "mark a handler with #[resource(function)] (e.g. `#[resource(function(url = \"public\"))]`); \
         `cargo pluto new NAME` scaffolds an app that runs"
    ))]
    NothingToRun(String),
    /// The simulator could not start.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Simulator(#[from] pluto_simulator::SimulatorError),
    /// `new` would overwrite something.
    #[error("{0} already exists")]
    #[diagnostic(help("choose another name, or remove it first"))]
    Exists(std::path::PathBuf),
    /// `new` got a name cargo would reject.
    #[error("`{0}` is not a valid package name")]
    #[diagnostic(help(
        "start with a letter; use letters, digits, `-` and `_`; not `pluto` (the app depends on \
         the crate of that name) nor a standard library crate's name"
    ))]
    BadPackageName(String),
    /// The runtime crate to depend on is missing.
    #[error("no pluto runtime crate at {0}")]
    #[diagnostic(help("pass --pluto-path pointing at the runtime/ directory of a Pluto checkout"))]
    NoRuntime(std::path::PathBuf),
    /// `--endpoint-url` is not an http(s) URL.
    #[error("--endpoint-url `{url}` is not an http(s) URL: {reason}")]
    #[diagnostic(
        code(pluto::aws::bad_endpoint_url),
        help(
            "pass the endpoint's whole URL, with scheme and host (and port, if not the scheme's), \
             e.g. `--endpoint-url http://127.0.0.1:5000` for an emulator such as moto; leave the \
             option out to use AWS itself"
        )
    )]
    BadEndpointUrl {
        /// The URL given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The AWS engine failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Engine(#[from] pluto_aws_engine::EngineError),
    /// The stack's lock could not be taken or kept.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Lock(#[from] pluto_aws_engine::LockError),
    /// Building the app (for this machine or for Lambda) failed.
    #[error(transparent)]
    #[diagnostic(transparent)]
    Build(#[from] pluto_build::BuildError),
    /// The answer to a confirmation could not be read.
    #[error("could not read the answer from standard input: {0}")]
    #[diagnostic(help("run again with --yes to apply without asking"))]
    Prompt(std::io::Error),
    /// A change needs confirmation and there is no terminal to ask on.
    #[error("{0} needs confirmation, and standard input is not a terminal")]
    #[diagnostic(help("review the plan above, then run again with --yes"))]
    NeedsConfirmation(String),
    /// `invoke` or `logs` without `--deployed`, and no `cargo pluto run` of the stack.
    #[error("no `cargo pluto run` of stack `{stack}` is running here")]
    #[diagnostic(help(
        "start one in another terminal (`cargo pluto run --stack {stack}`), or add --deployed \
         to use the stack deployed on AWS"
    ))]
    NotRunning {
        /// The stack.
        stack: String,
    },
    /// A function name the app does not have.
    #[error("the app has no function `{function}`")]
    #[diagnostic(help("its functions: {available}"))]
    UnknownFunction {
        /// The name given.
        function: String,
        /// The app's functions, comma-separated.
        available: String,
    },
    /// A secret name the app does not declare.
    #[error("the app has no secret `{secret}`")]
    #[diagnostic(help("its secrets: {available}"))]
    UnknownSecret {
        /// The name given.
        secret: String,
        /// The app's secrets, comma-separated.
        available: String,
    },
    /// A bucket name the app does not declare.
    #[error("the app has no bucket `{bucket}`")]
    #[diagnostic(help("its buckets: {available}"))]
    UnknownBucket {
        /// The name given.
        bucket: String,
        /// The app's buckets, comma-separated.
        available: String,
    },
    /// `bucket upload` of a folder with no (non-hidden) file.
    #[error("{} has no file to upload", .0.display())]
    #[diagnostic(help("give a folder with the files to store, e.g. text files for a QA library"))]
    NothingToUpload(PathBuf),
    /// `bucket upload --deployed` into a bucket the deployed stack does not have.
    #[error("bucket `{bucket}` is not deployed in stack `{stack}` (no S3 bucket `{physical}`)")]
    #[diagnostic(help("deploy the stack first: `cargo pluto deploy --stack {stack}`"))]
    BucketNotDeployed {
        /// The bucket.
        bucket: String,
        /// The stack.
        stack: String,
        /// Its S3 name.
        physical: String,
    },
    /// `secret set` read an empty value.
    #[error("no value for secret `{0}`: standard input or the prompt gave an empty value")]
    #[diagnostic(help(
        "pipe the value in (`printf %s \"$VALUE\" | cargo pluto secret set {0}`) or type it at the prompt"
    ))]
    EmptySecret(String),
    /// `secret set` read a value larger than Secrets Manager stores.
    #[error(
        "the value of secret `{secret}` is {bytes} bytes or more: Secrets Manager stores at most {} bytes",
        pluto_spec::limits::SECRET_VALUE_MAX_BYTES
    )]
    #[diagnostic(help("keep large data in a bucket and the secret small (a key, a token)"))]
    SecretTooLarge {
        /// The secret.
        secret: String,
        /// The value's size as read.
        bytes: usize,
    },
    /// The local secret store could not be read or written.
    #[error("the local secret store failed: {0}")]
    #[diagnostic(help(
        "set PLUTO_SECRETS_DIR to a writable directory outside the project to keep local secrets there"
    ))]
    SecretStore(String),
    /// A function of the app that the deployed stack does not have.
    #[error(
        "function `{function}` is not deployed in stack `{stack}` (no Lambda function `{physical}`)"
    )]
    #[diagnostic(help("deploy the stack first: `cargo pluto deploy --stack {stack}`"))]
    NotDeployed {
        /// The function.
        function: String,
        /// The stack.
        stack: String,
        /// Its Lambda function's name.
        physical: String,
    },
    /// `invoke`'s arguments are not a JSON object.
    #[error("the arguments are not a JSON object: {0}")]
    #[diagnostic(help(
        "pass the handler's arguments by name, e.g. '{{\"query\": \"hi\"}}' (or `-` to read them \
         from standard input); a handler without arguments takes '{{}}'"
    ))]
    BadArguments(String),
    /// `--since` is not a duration.
    #[error("--since `{0}` is not a duration")]
    #[diagnostic(help("a number and a unit: `30s`, `10m`, `2h` or `1d`"))]
    BadSince(String),
    /// Reading standard input or a log file failed.
    #[error("could not read {what}: {source}")]
    Read {
        /// What.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The running `cargo pluto run` could not be reached or answered unexpectedly.
    #[error("the `cargo pluto run` at {url} {problem}")]
    #[diagnostic(help("check the terminal of `cargo pluto run`; restart it if it has stopped"))]
    Console {
        /// What was asked.
        url: String,
        /// What went wrong.
        problem: String,
    },
    /// The invoked function returned an error.
    #[error("function `{function}` failed: {error_type}: {message}")]
    FunctionFailed {
        /// The function.
        function: String,
        /// The error's type, e.g. `Pluto.HandlerError`.
        error_type: String,
        /// The error's message.
        message: String,
    },
    /// Writing under `.pluto/` failed.
    #[error("could not write {path}: {source}")]
    #[diagnostic(help("check that the app's directory is writable"))]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}
