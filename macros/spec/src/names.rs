//! Rules for the names users write: logical resource names, environment-variable keys and
//! container image references. Each check returns a message that says what is wrong and what would
//! be accepted.

use crate::contract::RESERVED_ENV_PREFIX;
use crate::limits::{LAMBDA_RESERVED_ENV, NAME_MAX_LEN};

/// Checks a logical resource name.
///
/// Names are lowercase ASCII letters, digits and single hyphens, starting with a letter, at most
/// [`NAME_MAX_LEN`] characters: the intersection of what Lambda (`[A-Za-z0-9-_]`), DynamoDB
/// (`[A-Za-z0-9_.-]`) and SageMaker (`[A-Za-z0-9](-*[A-Za-z0-9])*`) accept, so one name is valid
/// everywhere and maps one-to-one to an environment variable.
pub fn check_resource_name(name: &str) -> Result<(), String> {
    let problem = if name.is_empty() {
        Some("is empty".to_owned())
    } else if name.len() > NAME_MAX_LEN {
        Some(format!(
            "is {} characters long; the limit is {NAME_MAX_LEN}",
            name.len()
        ))
    } else if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        Some("must start with a lowercase letter".to_owned())
    } else if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        Some(format!("contains `{bad}`"))
    } else if name.ends_with('-') || name.contains("--") {
        Some("has a trailing or doubled `-`".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "resource name `{name}` {problem}: names are lowercase letters, digits and single `-` \
             (at most {NAME_MAX_LEN}, starting with a letter), so they are valid for Lambda, DynamoDB \
             and SageMaker alike; try `{}`",
            suggest_resource_name(name)
        )),
    }
}

/// The name a declaration gets when it sets none: its Rust identifier, `_` turned into `-`.
pub fn default_resource_name(rust_ident: &str) -> String {
    suggest_resource_name(rust_ident)
}

/// A valid name close to `raw`, for error hints and defaults.
pub fn suggest_resource_name(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.trim_start_matches("r#").chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            out.push(c);
        } else if !out.is_empty() && !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out.trim_end_matches('-');
    let mut name: String = trimmed.chars().take(NAME_MAX_LEN).collect();
    name = name.trim_end_matches('-').to_owned();
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        name.insert_str(0, "r-");
    }
    name
}

/// Checks the key of an `env(KEY = ...)` entry of a function or a SageMaker container.
pub fn check_env_key(key: &str) -> Result<(), String> {
    let well_formed = key.len() >= 2
        && key.starts_with(|c: char| c.is_ascii_alphabetic())
        && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !well_formed {
        return Err(format!(
            "environment variable `{key}` is not a valid name: AWS accepts a letter followed by \
             letters, digits and `_` (at least two characters)"
        ));
    }
    if LAMBDA_RESERVED_ENV.contains(&key) {
        return Err(format!(
            "environment variable `{key}` is reserved by AWS Lambda and cannot be set"
        ));
    }
    if key.starts_with(RESERVED_ENV_PREFIX) {
        return Err(format!(
            "environment variables starting with `{RESERVED_ENV_PREFIX}` are set by Pluto itself; \
             rename `{key}`"
        ));
    }
    Ok(())
}

/// The parts of an Amazon ECR image reference
/// (`<account>.dkr.ecr.<region>.amazonaws.com/<repository>[:tag|@digest]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EcrImage {
    /// The registry's AWS account.
    pub account: String,
    /// The registry's region.
    pub region: String,
    /// The repository, e.g. `huggingface-pytorch-tgi-inference`.
    pub repository: String,
}

/// Parses an ECR image reference; SageMaker pulls containers only from Amazon ECR.
pub fn parse_ecr_image(image: &str) -> Result<EcrImage, String> {
    let hint = "SageMaker pulls containers from Amazon ECR: write \
                `<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>`";
    let (registry, path) = image
        .split_once('/')
        .ok_or_else(|| format!("image `{image}` has no repository; {hint}"))?;
    let mut parts = registry.split('.');
    let (account, dkr, ecr, region) = (parts.next(), parts.next(), parts.next(), parts.next());
    let domain: Vec<&str> = parts.collect();
    let (Some(account), Some("dkr"), Some("ecr"), Some(region)) = (account, dkr, ecr, region)
    else {
        return Err(format!("image `{image}` is not in Amazon ECR; {hint}"));
    };
    if account.len() != 12 || !account.chars().all(|c| c.is_ascii_digit()) {
        return Err(format!(
            "image `{image}`: `{account}` is not a 12-digit AWS account; {hint}"
        ));
    }
    if domain.first() != Some(&"amazonaws") || region.is_empty() {
        return Err(format!("image `{image}` is not in Amazon ECR; {hint}"));
    }
    let repository = path.split(['@', ':']).next().unwrap_or_default();
    if repository.is_empty() {
        return Err(format!("image `{image}` has an empty repository; {hint}"));
    }
    Ok(EcrImage {
        account: account.to_owned(),
        region: region.to_owned(),
        repository: repository.to_owned(),
    })
}

/// Checks a SageMaker instance type such as `ml.m5.xlarge`.
pub fn check_instance_type(instance_type: &str) -> Result<(), String> {
    let parts: Vec<&str> = instance_type.split('.').collect();
    let well_formed = parts.len() == 3
        && parts[0] == "ml"
        && parts[1..].iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        });
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`{instance_type}` is not a SageMaker instance type: they look like `ml.m5.xlarge` or \
             `ml.g4dn.xlarge`"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resource_names_follow_the_common_aws_subset() {
        assert!(check_resource_name("chat-history").is_ok());
        assert!(check_resource_name("llama2").is_ok());
        for bad in [
            "",
            "Chat",
            "chat_bot",
            "-x",
            "x-",
            "a--b",
            "9lives",
            &"x".repeat(49),
        ] {
            assert!(
                check_resource_name(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let message = check_resource_name("chat_bot").unwrap_err();
        assert!(message.contains("try `chat-bot`"), "{message}");
    }

    #[test]
    fn default_names_come_from_rust_identifiers() {
        assert_eq!(default_resource_name("chat"), "chat");
        assert_eq!(default_resource_name("chat_history"), "chat-history");
        assert_eq!(default_resource_name("r#type"), "type");
        assert_eq!(default_resource_name("_private"), "private");
        assert_eq!(default_resource_name("__2fast"), "r-2fast");
    }

    #[test]
    fn env_keys_reject_reserved_and_malformed_names() {
        assert!(check_env_key("HF_MODEL_ID").is_ok());
        assert!(
            check_env_key("AWS_REGION")
                .unwrap_err()
                .contains("reserved")
        );
        assert!(
            check_env_key("PLUTO_X")
                .unwrap_err()
                .contains("set by Pluto")
        );
        assert!(check_env_key("1ABC").is_err());
        assert!(check_env_key("A-B").is_err());
    }

    #[test]
    fn ecr_images_are_parsed_into_account_region_and_repository() {
        let image = parse_ecr_image(
            "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04",
        )
        .unwrap();
        assert_eq!(image.account, "763104351884");
        assert_eq!(image.region, "us-east-1");
        assert_eq!(image.repository, "huggingface-pytorch-tgi-inference");
        assert!(parse_ecr_image("ghcr.io/huggingface/tgi:latest").is_err());
        assert!(parse_ecr_image("12345.dkr.ecr.us-east-1.amazonaws.com/x:1").is_err());
    }

    #[test]
    fn instance_types_must_look_like_sagemaker_ones() {
        assert!(check_instance_type("ml.g4dn.xlarge").is_ok());
        assert!(check_instance_type("m5.xlarge").is_err());
        assert!(check_instance_type("ml.M5.xlarge").is_err());
    }
}
