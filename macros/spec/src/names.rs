//! Rules for the names users write: logical resource names, environment-variable keys, container
//! image references, and the origins, methods and headers of CORS settings. Each check returns a message that says what is wrong and what would
//! be accepted.

use crate::contract::RESERVED_ENV_PREFIX;
use crate::limits::{
    CORS_HEADER_MAX_LEN, CORS_METHODS, CORS_ORIGIN_MAX_LEN, LAMBDA_RESERVED_ENV, NAME_MAX_LEN,
};

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

/// Checks one origin of `cors(allow_origins = [...])` and returns it normalised: scheme and host
/// in lowercase, as browsers send them.
///
/// An origin is what a browser puts in its `Origin` header: a scheme (`http` or `https`), a host
/// and an optional port, with no path, query or trailing slash (a page at
/// `https://example.com/app/` has origin `https://example.com`). `*` alone stands for any origin.
pub fn check_cors_origin(origin: &str) -> Result<String, String> {
    const HINT: &str = "an origin is a scheme, a host and an optional port, such as \
                        `https://example.com` or `http://localhost:3000`, or `*` for any origin";
    if origin == "*" {
        return Ok(origin.to_owned());
    }
    if origin.is_empty() {
        return Err(format!("the origin is empty; {HINT}"));
    }
    let length = origin.chars().count();
    if length > CORS_ORIGIN_MAX_LEN {
        return Err(format!(
            "this origin is {length} characters long; AWS accepts at most {CORS_ORIGIN_MAX_LEN}"
        ));
    }
    let lower = origin.to_ascii_lowercase();
    let Some((scheme, rest)) = lower.split_once("://") else {
        return Err(format!("origin `{origin}` has no scheme; {HINT}"));
    };
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "origin `{origin}`: the scheme is `http` or `https` (the pages of a browser); {HINT}"
        ));
    }
    if let Some(index) = rest.find(['/', '?', '#']) {
        let (authority, _) = rest.split_at(index);
        return Err(format!(
            "origin `{origin}` has a path or query: browsers send only the scheme, host and port, \
             with no path or trailing slash; write `{scheme}://{authority}`"
        ));
    }
    if rest.contains('@') {
        return Err(format!(
            "origin `{origin}` has a user name: browsers send only the scheme, host and port; {HINT}"
        ));
    }
    let (host, port) = if let Some(after_bracket) = rest.strip_prefix('[') {
        let Some((address, after)) = after_bracket.split_once(']') else {
            return Err(format!("origin `{origin}` has an unclosed `[`; {HINT}"));
        };
        let well_formed = !address.is_empty()
            && address
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        if !well_formed {
            return Err(format!(
                "origin `{origin}`: `[{address}]` is not an IPv6 address; {HINT}"
            ));
        }
        match after.strip_prefix(':') {
            Some(port) => (None, Some(port)),
            None if after.is_empty() => (None, None),
            None => return Err(format!("origin `{origin}`: unexpected `{after}`; {HINT}")),
        }
    } else {
        match rest.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(rest), None),
        }
    };
    if let Some(host) = host {
        check_origin_host(origin, host)?;
    }
    if let Some(port) = port {
        let number = port
            .parse::<u16>()
            .ok()
            .filter(|&n| n > 0 && port.chars().all(|c| c.is_ascii_digit()));
        let Some(number) = number else {
            return Err(format!(
                "origin `{origin}`: `{port}` is not a port (1 to 65535); {HINT}"
            ));
        };
        let default_port = if scheme == "https" { 443 } else { 80 };
        if number == default_port {
            let without = lower.trim_end_matches(&format!(":{port}")).to_owned();
            return Err(format!(
                "origin `{origin}`: browsers leave the default port {default_port} of {scheme} \
                 out of the origin they send, so this would never match; write `{without}`"
            ));
        }
    }
    Ok(lower)
}

fn check_origin_host(origin: &str, host: &str) -> Result<(), String> {
    let problem = if host.is_empty() {
        Some("has no host".to_owned())
    } else if host.contains('*') {
        Some(
            "has a wildcard: only `*` alone stands for several origins; list each origin instead"
                .to_owned(),
        )
    } else if let Some(bad) = host
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        if bad.is_ascii() {
            Some(format!("has `{bad}` in its host"))
        } else {
            Some(format!(
                "has `{bad}` in its host: browsers send international domain names in their \
                 ASCII (`xn--`) form; write that"
            ))
        }
    } else if host.split('.').any(|label| {
        label.is_empty() || label.len() > 63 || label.starts_with('-') || label.ends_with('-')
    }) {
        Some("has an empty, too long or badly hyphenated part in its host".to_owned())
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(problem) => Err(format!(
            "origin `{origin}` {problem}; an origin is a scheme, a host and an optional port, such \
             as `https://example.com` or `http://localhost:3000`, or `*` for any origin"
        )),
    }
}

/// Checks one method of `cors(allow_methods = [...])` and returns it in upper case.
pub fn check_cors_method(method: &str) -> Result<String, String> {
    let upper = method.to_ascii_uppercase();
    if CORS_METHODS.contains(&upper.as_str()) {
        return Ok(upper);
    }
    let allowed = CORS_METHODS
        .iter()
        .map(|m| format!("`{m}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if upper == "OPTIONS" {
        return Err(format!(
            "AWS does not accept `{method}` here, and it is not needed: the Function URL answers \
             preflight (OPTIONS) requests itself from these settings; expected one of {allowed}"
        ));
    }
    Err(format!(
        "`{method}` is not a method AWS accepts in CORS settings; expected one of {allowed}"
    ))
}

/// Checks one header name of `cors(allow_headers = [...])` or `cors(expose_headers = [...])`.
pub fn check_cors_header(header: &str) -> Result<(), String> {
    const HINT: &str = "header names are letters, digits and any of !#$%&'*+-.^_`|~, e.g. \
                        `content-type` or `x-request-id`";
    if header.is_empty() {
        return Err(format!("the header name is empty; {HINT}"));
    }
    let length = header.chars().count();
    if length > CORS_HEADER_MAX_LEN {
        return Err(format!(
            "this header name is {length} characters long; AWS accepts at most {CORS_HEADER_MAX_LEN}"
        ));
    }
    if let Some(bad) = header
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(*c)))
    {
        return Err(format!("header `{header}` contains `{bad}`; {HINT}"));
    }
    Ok(())
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
    fn cors_origins_are_scheme_host_and_port() {
        for (origin, normalised) in [
            ("*", "*"),
            ("https://example.com", "https://example.com"),
            ("HTTPS://Example.COM", "https://example.com"),
            ("http://localhost:3000", "http://localhost:3000"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("https://[::1]:8443", "https://[::1]:8443"),
            (
                "https://xn--bcher-kva.example",
                "https://xn--bcher-kva.example",
            ),
        ] {
            assert_eq!(check_cors_origin(origin).as_deref(), Ok(normalised));
        }
        for (origin, expected) in [
            ("", "empty"),
            ("example.com", "no scheme"),
            ("ftp://example.com", "`http` or `https`"),
            ("https://example.com/", "write `https://example.com`"),
            ("https://example.com/app", "has a path"),
            ("https://example.com?x=1", "has a path"),
            ("https://user@example.com", "user name"),
            ("https://", "no host"),
            ("https://*.example.com", "wildcard"),
            ("https://exa mple.com", "has ` `"),
            ("https://bücher.example", "`xn--`"),
            ("https://example..com", "badly hyphenated"),
            ("https://-example.com", "badly hyphenated"),
            ("https://example.com:0", "not a port"),
            ("https://example.com:70000", "not a port"),
            ("https://example.com:+80", "not a port"),
            ("https://example.com:443", "write `https://example.com`"),
            ("http://example.com:80", "default port 80"),
            ("https://[zz]", "not an IPv6 address"),
            ("https://[::1", "unclosed"),
        ] {
            let message = check_cors_origin(origin).expect_err(origin);
            assert!(message.contains(expected), "{origin:?}: {message}");
        }
        let long = format!("https://{}.com", "a".repeat(250));
        assert!(
            check_cors_origin(&long)
                .unwrap_err()
                .contains("at most 253")
        );
    }

    #[test]
    fn cors_methods_are_the_ones_aws_accepts_in_upper_case() {
        assert_eq!(check_cors_method("get").as_deref(), Ok("GET"));
        assert_eq!(check_cors_method("Patch").as_deref(), Ok("PATCH"));
        assert_eq!(check_cors_method("*").as_deref(), Ok("*"));
        assert!(
            check_cors_method("options")
                .unwrap_err()
                .contains("preflight")
        );
        assert!(
            check_cors_method("TRACE")
                .unwrap_err()
                .contains("expected one of")
        );
    }

    #[test]
    fn cors_headers_are_http_tokens() {
        assert!(check_cors_header("content-type").is_ok());
        assert!(check_cors_header("X-Request-Id").is_ok());
        assert!(check_cors_header("*").is_ok());
        assert!(check_cors_header("").unwrap_err().contains("empty"));
        assert!(
            check_cors_header("x header")
                .unwrap_err()
                .contains("contains ` `")
        );
        assert!(
            check_cors_header("a:b")
                .unwrap_err()
                .contains("contains `:`")
        );
        assert!(
            check_cors_header(&"x".repeat(1025))
                .unwrap_err()
                .contains("at most 1024")
        );
    }

    #[test]
    fn instance_types_must_look_like_sagemaker_ones() {
        assert!(check_instance_type("ml.g4dn.xlarge").is_ok());
        assert!(check_instance_type("m5.xlarge").is_err());
        assert!(check_instance_type("ml.M5.xlarge").is_err());
    }
}
