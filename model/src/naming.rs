//! Physical AWS names: the one place that turns a project, a stack and a logical resource name into
//! the name a resource gets in AWS, shared by every engine (the local simulator, the AWS engine) so
//! they can never disagree.
//!
//! Every name has the base form `{project}-{stack}-{logical}`, plus a kind suffix where two kinds
//! share one AWS namespace or where it helps operators tell them apart:
//!
//! | resource | name | limit |
//! | --- | --- | --- |
//! | Lambda function | `{base}` | 64, `[A-Za-z0-9-_]` |
//! | function's IAM role | `{base}-fn` | 64, `[\w+=,.@-]` |
//! | DynamoDB table | `{base}` | 64 (AWS allows 255; kept short for consoles) |
//! | SageMaker endpoint | `{base}` | 63, `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$` |
//! | SageMaker endpoint config | `{base}-config` | 63, same pattern |
//! | SageMaker model | `{base}-model` | 63, same pattern |
//! | SageMaker execution role | `{base}-sm` | 64 |
//! | S3 bucket | `{base}-{hash}`, hash of base, account and region | 63, `[a-z0-9-]` |
//! | Secrets Manager secret | `{base}` | 64 (AWS allows 512) |
//! | function log group | `/aws/lambda/{function name}` | |
//! | endpoint log group | `/aws/sagemaker/Endpoints/{endpoint name}` | |
//!
//! Bucket names are global across every AWS account, so they always end in `-` and 8 hex digits
//! of the SHA-256 of the base, the account and the region ([`StackNames::in_account`]): the same
//! app deployed by two accounts, or in two regions, gets two buckets.
//!
//! A name longer than its service allows is shortened deterministically: cut to fit, trailing `-`
//! removed, then `-` and the first 8 hex digits of the SHA-256 of the full, untruncated name
//! appended. Names therefore never end in `-`, never contain `--`, are the same for the same
//! inputs, and differ for different logical names even when these differ only at the end.

use sha2::{Digest, Sha256};
use std::fmt;
use thiserror::Error;

/// Longest stack name: it is part of every physical name, so it is kept short.
pub const STACK_MAX_LEN: usize = 16;
/// Longest Lambda function name.
pub const FUNCTION_MAX_LEN: usize = 64;
/// Longest IAM role name.
pub const ROLE_MAX_LEN: usize = 64;
/// Longest DynamoDB table name Pluto produces (AWS allows 255).
pub const TABLE_MAX_LEN: usize = 64;
/// Longest SageMaker endpoint, endpoint configuration or model name.
pub const SAGEMAKER_MAX_LEN: usize = 63;
/// Longest S3 bucket name.
pub const BUCKET_MAX_LEN: usize = 63;
/// Longest Secrets Manager secret name Pluto produces (AWS allows 512).
pub const SECRET_MAX_LEN: usize = 64;
/// Hex digits of the SHA-256 appended to a shortened name.
pub const HASH_HEX_LEN: usize = 8;

/// Prefix of a Lambda function's log group.
pub const FUNCTION_LOG_GROUP_PREFIX: &str = "/aws/lambda/";
/// Prefix of a SageMaker endpoint's log group.
pub const ENDPOINT_LOG_GROUP_PREFIX: &str = "/aws/sagemaker/Endpoints/";

/// Suffix of a function's IAM role.
const FUNCTION_ROLE_SUFFIX: &str = "fn";
/// Suffix of a SageMaker endpoint's execution role.
const SAGEMAKER_ROLE_SUFFIX: &str = "sm";
/// Suffix of a SageMaker endpoint configuration.
const ENDPOINT_CONFIG_SUFFIX: &str = "config";
/// Suffix of a SageMaker model.
const MODEL_SUFFIX: &str = "model";

/// Why a project or stack name cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum NamingError {
    /// The stack name breaks the stack-name rule.
    #[error(
        "stack name `{stack}` {problem}: stack names are 1 to {STACK_MAX_LEN} lowercase letters, \
         digits and single `-`, starting and ending with a letter or digit (e.g. `dev`, `prod`, \
         `pr-42`)"
    )]
    InvalidStack {
        /// The stack name as given.
        stack: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The project name has no ASCII letter or digit to build names from.
    #[error(
        "project name `{project}` has no ASCII letter or digit: physical AWS names are built from \
         the package name lowercased, with `_` and other characters turned into `-`"
    )]
    InvalidProject {
        /// The project name as given.
        project: String,
    },
}

/// The physical names of one stack of one project.
///
/// ```
/// use pluto_model::naming::StackNames;
///
/// let names = StackNames::new("My_App", "dev").unwrap();
/// assert_eq!(names.function("chat"), "my-app-dev-chat");
/// assert_eq!(names.function_role("chat"), "my-app-dev-chat-fn");
/// assert_eq!(names.function_log_group("chat"), "/aws/lambda/my-app-dev-chat");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StackNames {
    project: String,
    stack: String,
    /// `{account}/{region}` of the deployment, part of the hash in bucket names; empty until
    /// [`StackNames::in_account`].
    account_scope: String,
}

impl StackNames {
    /// Names for `stack` of `project`.
    ///
    /// `project` is a Cargo package name: it is lowercased, and `_` (or any other character that
    /// is not an ASCII letter or digit) becomes `-`, runs of `-` collapse and leading or trailing
    /// ones are dropped (`My_App` → `my-app`). `stack` must already be valid: 1 to
    /// [`STACK_MAX_LEN`] lowercase letters, digits and single `-`, starting and ending with a
    /// letter or digit.
    pub fn new(project: &str, stack: &str) -> Result<Self, NamingError> {
        check_stack(stack)?;
        let normalised = normalise_project(project);
        if normalised.is_empty() {
            return Err(NamingError::InvalidProject {
                project: project.to_owned(),
            });
        }
        Ok(Self {
            project: normalised,
            stack: stack.to_owned(),
            account_scope: String::new(),
        })
    }

    /// The same names, deployed to `account` in `region`: the account and region make bucket
    /// names, which S3 shares between all accounts, globally unique. Every engine calls this
    /// before naming a bucket (the simulator with its local account).
    #[must_use]
    pub fn in_account(mut self, account: &str, region: &str) -> Self {
        self.account_scope = format!("{account}/{region}");
        self
    }

    /// The normalised project name, as it appears in physical names.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// The stack name.
    pub fn stack(&self) -> &str {
        &self.stack
    }

    /// Name of the AWS object a resource of `kind` is addressed by: the table of a KV store,
    /// the endpoint of a SageMaker endpoint, the Lambda function of a function.
    pub fn resource(&self, kind: pluto_spec::ResourceKind, logical: &str) -> String {
        match kind {
            pluto_spec::ResourceKind::KvStore => self.table(logical),
            pluto_spec::ResourceKind::Sagemaker => self.endpoint(logical),
            pluto_spec::ResourceKind::Function => self.function(logical),
            pluto_spec::ResourceKind::Bucket => self.bucket(logical),
            pluto_spec::ResourceKind::Secret => self.secret(logical),
        }
    }

    /// Name of the S3 bucket of bucket `logical`: `{base}-{hash}` with the hash of the base and
    /// the account and region ([`StackNames::in_account`]), at most [`BUCKET_MAX_LEN`].
    pub fn bucket(&self, logical: &str) -> String {
        let full = self.name(logical, None, usize::MAX);
        let hash = hash_hex(&format!("{full}@{}", self.account_scope));
        let keep = BUCKET_MAX_LEN - HASH_HEX_LEN - 1;
        let prefix = full.get(..keep).unwrap_or(&full).trim_end_matches('-');
        format!("{prefix}-{hash}")
    }

    /// Name of the Secrets Manager secret of secret `logical`.
    pub fn secret(&self, logical: &str) -> String {
        self.name(logical, None, SECRET_MAX_LEN)
    }

    /// Name of the Lambda function of function `logical`.
    pub fn function(&self, logical: &str) -> String {
        self.name(logical, None, FUNCTION_MAX_LEN)
    }

    /// Name of the IAM execution role of function `logical` (suffix `-fn`).
    pub fn function_role(&self, logical: &str) -> String {
        self.name(logical, Some(FUNCTION_ROLE_SUFFIX), ROLE_MAX_LEN)
    }

    /// Name of the DynamoDB table of KV store `logical`.
    pub fn table(&self, logical: &str) -> String {
        self.name(logical, None, TABLE_MAX_LEN)
    }

    /// Name of the SageMaker endpoint `logical` (what the runtime invokes).
    pub fn endpoint(&self, logical: &str) -> String {
        self.name(logical, None, SAGEMAKER_MAX_LEN)
    }

    /// Name of the SageMaker endpoint configuration of endpoint `logical` (suffix `-config`).
    pub fn endpoint_config(&self, logical: &str) -> String {
        self.name(logical, Some(ENDPOINT_CONFIG_SUFFIX), SAGEMAKER_MAX_LEN)
    }

    /// Name of the SageMaker model behind endpoint `logical` (suffix `-model`).
    pub fn model(&self, logical: &str) -> String {
        self.name(logical, Some(MODEL_SUFFIX), SAGEMAKER_MAX_LEN)
    }

    /// Name of the IAM execution role SageMaker assumes for endpoint `logical` (suffix `-sm`).
    pub fn sagemaker_role(&self, logical: &str) -> String {
        self.name(logical, Some(SAGEMAKER_ROLE_SUFFIX), ROLE_MAX_LEN)
    }

    /// Name of revision `revision` of the SageMaker model behind endpoint `logical`
    /// (`{base}-model-{revision}`). Models cannot be changed in AWS, so every change of image,
    /// environment or role makes a new revision.
    pub fn model_revision(&self, logical: &str, revision: &str) -> String {
        self.name(
            logical,
            Some(&format!("{MODEL_SUFFIX}-{revision}")),
            SAGEMAKER_MAX_LEN,
        )
    }

    /// Name of revision `revision` of the endpoint configuration of endpoint `logical`
    /// (`{base}-config-{revision}`); like models, configurations cannot be changed in AWS.
    pub fn endpoint_config_revision(&self, logical: &str, revision: &str) -> String {
        self.name(
            logical,
            Some(&format!("{ENDPOINT_CONFIG_SUFFIX}-{revision}")),
            SAGEMAKER_MAX_LEN,
        )
    }

    /// A prefix of every physical name of this stack (`{project}-{stack}-`, cut to the part no
    /// shortening removes): lets an engine skip, without reading their tags, objects that cannot
    /// be this stack's. Ownership itself is decided by tags.
    pub fn owned_prefix(&self) -> String {
        let full = format!("{}-{}-", self.project, self.stack);
        let keep = SAGEMAKER_MAX_LEN.min(FUNCTION_MAX_LEN) - HASH_HEX_LEN - 1;
        full.get(..keep).unwrap_or(&full).to_owned()
    }

    /// CloudWatch Logs group of function `logical`: `/aws/lambda/` + its function name.
    pub fn function_log_group(&self, logical: &str) -> String {
        format!("{FUNCTION_LOG_GROUP_PREFIX}{}", self.function(logical))
    }

    /// CloudWatch Logs group of endpoint `logical`: `/aws/sagemaker/Endpoints/` + its endpoint
    /// name.
    pub fn endpoint_log_group(&self, logical: &str) -> String {
        format!("{ENDPOINT_LOG_GROUP_PREFIX}{}", self.endpoint(logical))
    }

    /// `{project}-{stack}-{logical}[-{suffix}]`, shortened to `max_len`.
    ///
    /// Logical names are valid by construction (the deducer checks them with
    /// [`pluto_spec::names::check_resource_name`]); one that is not is sanitised and always given
    /// the hash of its raw text, so it still maps to a valid name that no other name maps to.
    fn name(&self, logical: &str, suffix: Option<&str>, max_len: usize) -> String {
        let logical = if pluto_spec::names::check_resource_name(logical).is_ok() {
            logical.to_owned()
        } else {
            let mut sanitised = normalise_project(logical);
            if sanitised.is_empty() {
                sanitised.push('x');
            }
            format!("{sanitised}-{}", hash_hex(logical))
        };
        let mut full = format!("{}-{}-{logical}", self.project, self.stack);
        if let Some(suffix) = suffix {
            full.push('-');
            full.push_str(suffix);
        }
        shorten(&full, max_len)
    }
}

impl fmt::Display for StackNames {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.project, self.stack)
    }
}

/// Checks a stack name: 1 to [`STACK_MAX_LEN`] lowercase letters, digits and single `-`, starting
/// and ending with a letter or digit.
pub fn check_stack(stack: &str) -> Result<(), NamingError> {
    let problem = if stack.is_empty() {
        Some("is empty".to_owned())
    } else if stack.len() > STACK_MAX_LEN {
        Some(format!("is {} characters long", stack.len()))
    } else if let Some(bad) = stack
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(format!("contains `{bad}`"))
    } else if stack.starts_with('-') || stack.ends_with('-') || stack.contains("--") {
        Some("has a leading, trailing or doubled `-`".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(NamingError::InvalidStack {
            stack: stack.to_owned(),
            problem,
        }),
    }
}

/// Lowercase ASCII letters and digits, with every other run of characters turned into one `-`,
/// and no leading or trailing `-`.
fn normalise_project(project: &str) -> String {
    let mut out = String::with_capacity(project.len());
    for c in project.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    while out.ends_with('-') {
        out.pop();
    }
    out
}

/// The first [`HASH_HEX_LEN`] lowercase hex digits of the SHA-256 of `text`.
pub(crate) fn hash_hex(text: &str) -> String {
    let digest = Sha256::digest(text.as_bytes());
    let mut hex = String::with_capacity(HASH_HEX_LEN);
    for byte in digest.iter().take(HASH_HEX_LEN / 2) {
        hex.push_str(&format!("{byte:02x}"));
    }
    hex
}

/// `name` if it fits `max_len`; otherwise its longest prefix that leaves room for the hash, with
/// trailing `-` removed, then `-` and the hash of the whole of `name`.
///
/// `name` is ASCII (it is built from normalised parts), so cutting at a byte index is safe.
fn shorten(name: &str, max_len: usize) -> String {
    if name.len() <= max_len {
        return name.to_owned();
    }
    let keep = max_len.saturating_sub(HASH_HEX_LEN + 1);
    let prefix = name.get(..keep).unwrap_or_default().trim_end_matches('-');
    if prefix.is_empty() {
        hash_hex(name)
    } else {
        format!("{prefix}-{}", hash_hex(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn names() -> StackNames {
        StackNames::new("chat_bot", "dev").unwrap()
    }

    /// Every name of every kind for `logical`.
    fn all_names(names: &StackNames, logical: &str) -> Vec<String> {
        vec![
            names.function(logical),
            names.function_role(logical),
            names.table(logical),
            names.endpoint(logical),
            names.endpoint_config(logical),
            names.model(logical),
            names.sagemaker_role(logical),
            names.bucket(logical),
            names.secret(logical),
        ]
    }

    fn is_lambda_name(name: &str) -> bool {
        name.len() <= FUNCTION_MAX_LEN
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }

    fn is_role_name(name: &str) -> bool {
        name.len() <= ROLE_MAX_LEN
            && !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c))
    }

    fn is_table_name(name: &str) -> bool {
        (3..=TABLE_MAX_LEN).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    }

    /// `^[a-zA-Z0-9](-*[a-zA-Z0-9])*$`, at most 63, and (stricter) no `--`.
    fn is_sagemaker_name(name: &str) -> bool {
        name.len() <= SAGEMAKER_MAX_LEN
            && name.starts_with(|c: char| c.is_ascii_alphanumeric())
            && name.ends_with(|c: char| c.is_ascii_alphanumeric())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.contains("--")
    }

    fn check_all_rules(names: &StackNames, logical: &str) {
        assert!(is_lambda_name(&names.function(logical)), "{logical}");
        assert!(is_role_name(&names.function_role(logical)), "{logical}");
        assert!(is_role_name(&names.sagemaker_role(logical)), "{logical}");
        assert!(is_table_name(&names.table(logical)), "{logical}");
        assert!(is_sagemaker_name(&names.endpoint(logical)), "{logical}");
        assert!(
            is_sagemaker_name(&names.endpoint_config(logical)),
            "{logical}"
        );
        assert!(is_sagemaker_name(&names.model(logical)), "{logical}");
        for name in all_names(names, logical) {
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
        }
    }

    #[test]
    fn short_names_have_the_base_form_and_kind_suffixes() {
        let names = names();
        assert_eq!(names.function("chat"), "chat-bot-dev-chat");
        assert_eq!(names.function_role("chat"), "chat-bot-dev-chat-fn");
        assert_eq!(names.table("history"), "chat-bot-dev-history");
        assert_eq!(names.endpoint("llama"), "chat-bot-dev-llama");
        assert_eq!(names.endpoint_config("llama"), "chat-bot-dev-llama-config");
        assert_eq!(names.model("llama"), "chat-bot-dev-llama-model");
        assert_eq!(names.sagemaker_role("llama"), "chat-bot-dev-llama-sm");
        assert_eq!(
            names.function_log_group("chat"),
            "/aws/lambda/chat-bot-dev-chat"
        );
        assert_eq!(
            names.endpoint_log_group("llama"),
            "/aws/sagemaker/Endpoints/chat-bot-dev-llama"
        );
        assert_eq!(names.to_string(), "chat-bot-dev");
    }

    #[test]
    fn roles_of_functions_and_endpoints_never_collide() {
        // A function and an endpoint may share a logical name; IAM roles share one namespace.
        let names = names();
        assert_ne!(names.function_role("x"), names.sagemaker_role("x"));
        // Nor can a role of one collide with the role of a name ending in the other suffix.
        assert_ne!(names.function_role("a-sm"), names.sagemaker_role("a-fn"));
    }

    #[test]
    fn project_names_are_normalised_from_cargo_package_names() {
        for (project, expected) in [
            ("my_app", "my-app"),
            ("My-App", "my-app"),
            ("MyApp", "myapp"),
            ("__my__app__", "my-app"),
            ("app2", "app2"),
            ("2fast", "2fast"),
            ("caf\u{e9}_bar", "caf-bar"),
        ] {
            let names = StackNames::new(project, "dev").unwrap();
            assert_eq!(names.project(), expected, "{project}");
            assert_eq!(names.stack(), "dev");
        }
        for bad in ["", "___", "\u{e9}\u{e9}"] {
            let error = StackNames::new(bad, "dev").unwrap_err();
            assert_eq!(
                error,
                NamingError::InvalidProject {
                    project: bad.to_owned()
                }
            );
            assert!(error.to_string().contains("package name"), "{error}");
        }
    }

    #[test]
    fn stack_names_follow_their_rule() {
        for good in ["dev", "prod", "pr-42", "1", "a", "0123456789abcdef"] {
            assert!(StackNames::new("app", good).is_ok(), "{good}");
        }
        for bad in [
            "",
            "Dev",
            "my_stack",
            "-dev",
            "dev-",
            "a--b",
            "d\u{e9}v",
            "0123456789abcdefg",
            "dev stack",
        ] {
            let error = StackNames::new("app", bad).unwrap_err();
            let message = error.to_string();
            assert!(
                matches!(error, NamingError::InvalidStack { .. }),
                "{bad:?}: {message}"
            );
            assert!(
                message.contains("1 to 16 lowercase letters, digits and single `-`"),
                "{message}"
            );
        }
        let message = check_stack("Dev").unwrap_err().to_string();
        assert!(
            message.starts_with("stack name `Dev` contains `D`"),
            "{message}"
        );
        let message = check_stack(&"x".repeat(17)).unwrap_err().to_string();
        assert!(message.contains("is 17 characters long"), "{message}");
    }

    #[test]
    fn names_are_deterministic() {
        let logical = "a".repeat(48);
        let first = StackNames::new("some_long_project_name", "staging").unwrap();
        let second = StackNames::new("some_long_project_name", "staging").unwrap();
        assert_eq!(all_names(&first, &logical), all_names(&second, &logical));
        assert_eq!(all_names(&first, "chat"), all_names(&second, "chat"));
    }

    #[test]
    fn long_names_are_cut_and_hashed_to_fit_each_service() {
        let names = StackNames::new("a_rather_long_project_name", "production").unwrap();
        let logical = "conversation-history-with-a-very-long-name-x";
        let full = format!("a-rather-long-project-name-production-{logical}");
        assert!(full.len() > FUNCTION_MAX_LEN);

        let function = names.function(logical);
        assert_eq!(function.len(), FUNCTION_MAX_LEN);
        assert_eq!(
            function,
            format!("{}-{}", &full[..FUNCTION_MAX_LEN - 9], hash_hex(&full))
        );

        let endpoint = names.endpoint(logical);
        assert!(endpoint.len() <= SAGEMAKER_MAX_LEN);
        assert!(endpoint.ends_with(&hash_hex(&full)), "{endpoint}");

        // The hash covers the kind suffix, which is cut off here.
        let role = names.function_role(logical);
        assert!(role.ends_with(&hash_hex(&format!("{full}-fn"))), "{role}");
        assert_ne!(role, function);
        check_all_rules(&names, logical);
    }

    #[test]
    fn names_that_fit_exactly_are_kept() {
        // "project-of-eleven-s-" is 20 characters.
        let names = StackNames::new("project-of-eleven", "s").unwrap();
        let logical = "a".repeat(43);
        assert_eq!(
            names.endpoint(&logical),
            format!("project-of-eleven-s-{logical}")
        );
        let logical = "a".repeat(44);
        assert_eq!(
            names.function(&logical),
            format!("project-of-eleven-s-{logical}")
        );
        assert_eq!(names.function(&logical).len(), FUNCTION_MAX_LEN);
        // One character over SageMaker's 63: cut and hashed.
        let endpoint = names.endpoint(&logical);
        assert_eq!(endpoint.len(), SAGEMAKER_MAX_LEN);
        assert_eq!(
            endpoint,
            format!(
                "project-of-eleven-s-{}-{}",
                "a".repeat(34),
                hash_hex(&format!("project-of-eleven-s-{logical}"))
            )
        );
    }

    #[test]
    fn a_cut_never_leaves_a_hyphen_before_the_hash() {
        // SageMaker keeps 63 - 9 = 54 characters before `-{hash}`.
        let logical = "x".repeat(10);
        // The 54th character is the `-` after a 53-letter project: it is trimmed.
        let names = StackNames::new(&"a".repeat(53), "s").unwrap();
        let full = format!("{}-s-{logical}", "a".repeat(53));
        assert_eq!(
            names.endpoint(&logical),
            format!("{}-{}", "a".repeat(53), hash_hex(&full))
        );
        // Doubled `-` would otherwise appear when the cut ends on a `-`.
        let names = StackNames::new(&"a".repeat(54), "s").unwrap();
        let endpoint = names.endpoint(&logical);
        assert_eq!(endpoint.len(), SAGEMAKER_MAX_LEN);
        assert!(is_sagemaker_name(&endpoint), "{endpoint}");
        // Cuts at every position relative to the separators.
        for project_len in 40..=60 {
            let names = StackNames::new(&"p".repeat(project_len), "stage").unwrap();
            for logical in ["x", "x-y", "x-y-z", "chat-history", &"q".repeat(48)] {
                check_all_rules(&names, logical);
            }
        }
    }

    #[test]
    fn every_name_starts_with_the_owned_prefix() {
        for project in ["chat_bot", &"very-long-project-name".repeat(4)] {
            let names = StackNames::new(project, "pr-42").unwrap();
            let prefix = names.owned_prefix();
            for logical in ["chat", &"l".repeat(48)] {
                let mut all = all_names(&names, logical);
                all.push(names.model_revision(logical, "0123abcd"));
                all.push(names.endpoint_config_revision(logical, "0123abcd"));
                for name in all {
                    assert!(name.starts_with(&prefix), "{name} vs {prefix}");
                    assert!(name.len() <= ROLE_MAX_LEN, "{name}");
                }
            }
        }
        let names = names();
        assert_eq!(
            names.model_revision("llama", "0123abcd"),
            "chat-bot-dev-llama-model-0123abcd"
        );
        assert_eq!(
            names.endpoint_config_revision("llama", "0123abcd"),
            "chat-bot-dev-llama-config-0123abcd"
        );
        assert_ne!(
            names.model_revision(&"l".repeat(48), "0123abcd"),
            names.model_revision(&"l".repeat(48), "0123abce")
        );
    }

    #[test]
    fn shortening_is_cut_plus_hash_of_the_whole_name() {
        assert_eq!(shorten("abc", 3), "abc");
        let long = "abcdefghij-klmnop";
        assert_eq!(shorten(long, 20), long);
        assert_eq!(shorten(long, 17), long);
        assert_eq!(shorten(long, 16), format!("abcdefg-{}", hash_hex(long)));
        // A cut ending on `-` loses it, so the result is one shorter than the limit.
        let long = "abcdef-hijklmnopq";
        assert_eq!(shorten(long, 16), format!("abcdef-{}", hash_hex(long)));
        // Degenerate limits (no service has one) still give a name without a leading `-`.
        assert_eq!(shorten(long, 4), hash_hex(long));
    }

    #[test]
    fn long_names_that_differ_only_at_the_end_stay_distinct() {
        let names = StackNames::new("a_rather_long_project_name", "production").unwrap();
        let stem = "x".repeat(46);
        let logicals: Vec<String> = ('a'..='z')
            .map(|last| format!("{stem}-{last}"))
            .chain((0..10).map(|digit| format!("{stem}{digit}")))
            .collect();
        // One set per AWS namespace (a table and a function may share a name; two tables may not).
        let mut seen = vec![BTreeSet::new(); all_names(&names, "x").len()];
        for logical in &logicals {
            check_all_rules(&names, logical);
            for (set, name) in seen.iter_mut().zip(all_names(&names, logical)) {
                assert!(name.len() >= 60, "{name} should have been shortened");
                assert!(set.insert(name.clone()), "{name} was produced twice");
            }
        }
    }

    #[test]
    fn different_logical_names_and_kinds_never_share_a_name() {
        let names = StackNames::new("app", "dev").unwrap();
        let logicals = [
            "a",
            "b",
            "chat",
            "chat-fn",
            "chat-sm",
            "chat-model",
            "chat-config",
            "chat-history",
            "llama",
        ];
        // Within one AWS namespace, every name is distinct.
        let namespaces: [fn(&StackNames, &str) -> String; 5] = [
            StackNames::function,
            StackNames::table,
            StackNames::endpoint,
            StackNames::endpoint_config,
            StackNames::model,
        ];
        for namespace in namespaces {
            let produced: BTreeSet<String> =
                logicals.iter().map(|l| namespace(&names, l)).collect();
            assert_eq!(produced.len(), logicals.len());
        }
        // IAM roles: both kinds share one namespace.
        let roles: BTreeSet<String> = logicals
            .iter()
            .flat_map(|l| [names.function_role(l), names.sagemaker_role(l)])
            .collect();
        assert_eq!(roles.len(), 2 * logicals.len());
    }

    #[test]
    fn stacks_and_projects_separate_names() {
        let dev = StackNames::new("app", "dev").unwrap();
        let prod = StackNames::new("app", "prod").unwrap();
        let other = StackNames::new("other", "dev").unwrap();
        assert_ne!(dev.table("kv"), prod.table("kv"));
        assert_ne!(dev.table("kv"), other.table("kv"));
    }

    #[test]
    fn invalid_logical_names_still_give_valid_distinct_names() {
        let names = names();
        let bad = ["Chat", "chat_", "chat__", "-", "", "x--y", "\u{e9}t\u{e9}"];
        let mut seen = BTreeSet::new();
        for logical in bad.iter().copied().chain(["chat"]) {
            check_all_rules(&names, logical);
            assert!(seen.insert(names.function(logical)), "{logical}");
        }
        assert_eq!(
            names.function("Chat"),
            format!("chat-bot-dev-chat-{}", hash_hex("Chat"))
        );
        assert_eq!(
            names.function(""),
            format!("chat-bot-dev-x-{}", hash_hex(""))
        );
        check_all_rules(&names, &"a".repeat(60));
    }

    #[test]
    fn log_groups_follow_the_service_conventions() {
        let names = StackNames::new("p", "s").unwrap();
        let logical = "a".repeat(48);
        assert_eq!(
            names.function_log_group(&logical),
            format!("/aws/lambda/{}", names.function(&logical))
        );
        assert_eq!(
            names.endpoint_log_group(&logical),
            format!("/aws/sagemaker/Endpoints/{}", names.endpoint(&logical))
        );
    }

    #[test]
    fn the_hash_is_sha256_in_lowercase_hex() {
        // SHA-256("abc") = ba7816bf 8f01cfea ...
        assert_eq!(hash_hex("abc"), "ba7816bf");
        assert_eq!(hash_hex("abc").len(), HASH_HEX_LEN);
    }

    #[test]
    fn bucket_names_are_valid_and_differ_by_account_and_region() {
        let base = StackNames::new("a_rather_long_project_name", "production").unwrap();
        let here = base.clone().in_account("123456789012", "us-east-1");
        let other_account = base.clone().in_account("210987654321", "us-east-1");
        let other_region = base.clone().in_account("123456789012", "eu-west-1");
        for logical in ["docs", &"d".repeat(60)] {
            let name = here.bucket(logical);
            assert!(name.len() <= BUCKET_MAX_LEN, "{name}");
            assert!(
                name.bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
                "{name}"
            );
            assert!(!name.ends_with('-') && !name.contains("--"), "{name}");
            assert!(name.starts_with(&here.owned_prefix()), "{name}");
            assert_ne!(name, other_account.bucket(logical));
            assert_ne!(name, other_region.bucket(logical));
            assert_eq!(name, here.clone().bucket(logical));
        }
        assert_eq!(
            StackNames::new("app", "dev")
                .unwrap()
                .in_account("123456789012", "us-east-1")
                .bucket("docs"),
            format!(
                "app-dev-docs-{}",
                hash_hex("app-dev-docs@123456789012/us-east-1")
            )
        );
    }
}
