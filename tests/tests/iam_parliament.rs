//! Lints every kind of IAM policy Pluto renders with `parliament`, Duo Labs' IAM linter: a
//! function granted all five operations over several resources, functions granted every bucket
//! and secret operation (and only some), a function that only writes logs,
//! a SageMaker execution policy, and both trust policies.
//!
//! Each policy goes to `parliament --minimum_severity INFO --json` on stdin (and once more with
//! `--include-community-auditors`); the test expects no finding at all except these, which are
//! known and explained where they are listed:
//! - trust policies: parliament does not lint trust policies (it requires a `Resource`, which trust
//!   policies never have), so each of their statements gets exactly one `MALFORMED` finding,
//!   "Statement contains neither Resource nor NotResource"; everything parliament checks before
//!   that (elements, `Effect`, `Sid`, `Principal`) must still pass;
//! - the SageMaker execution policy, community auditors only: `CREDENTIALS_EXPOSURE` for
//!   `ecr:GetAuthorizationToken`, which every ECR pull needs.
//!
//! The linter is found through `PLUTO_PARLIAMENT`, then `<workspace>/.cache/venv/bin/parliament`,
//! then `PATH`. When it is missing the test fails, saying how to install it: `scripts/test` does.

use pluto_model::iam::{
    AwsTarget, Effect, OneOrMany, PolicyDocument, Statement, function_policy, lambda_trust_policy,
    sagemaker_execution_policy, sagemaker_trust_policy,
};
use pluto_model::naming::StackNames;
use pluto_model::{Function, Grant, Operation};
use pluto_spec::{Hosting, ResourceKind, SagemakerSpec, UrlAuth};
use std::collections::BTreeMap;

use pluto_tests::fixtures::grant;
use pluto_tests::parliament::Finding;

/// The findings parliament reports for `policy`.
fn lint(policy: &PolicyDocument, community: bool) -> Vec<Finding> {
    let json = serde_json::to_string_pretty(policy).expect("policies serialise");
    pluto_tests::parliament::lint(&json, community)
}

/// Lints `policy` in both modes and checks the findings are exactly the expected ones.
fn assert_findings(
    label: &str,
    policy: &PolicyDocument,
    expected: &[Finding],
    expected_with_community: &[Finding],
) {
    for (community, expected) in [(false, expected), (true, expected_with_community)] {
        let findings = lint(policy, community);
        assert_eq!(
            findings,
            expected,
            "parliament{} on the {label}:\n{}",
            if community {
                " --include-community-auditors"
            } else {
                ""
            },
            serde_json::to_string_pretty(policy).expect("policies serialise")
        );
    }
}

fn function(name: &str, grants: Vec<Grant>) -> Function {
    pluto_tests::fixtures::function(name, UrlAuth::Public, grants)
}

fn llama() -> SagemakerSpec {
    SagemakerSpec {
        name: "llama".to_owned(),
        image: "763104351884.dkr.ecr.us-east-1.amazonaws.com/huggingface-pytorch-tgi-inference:2.1.1-tgi1.4.0-gpu-py310-cu121-ubuntu20.04".to_owned(),
        hosting: Hosting::Serverless {
            memory_mb: 4096,
            max_concurrency: 5,
        },
        env: BTreeMap::new(),
    }
}

fn targets() -> Vec<AwsTarget> {
    [
        ("aws", "us-east-1"),
        ("aws-cn", "cn-northwest-1"),
        ("aws-us-gov", "us-gov-west-1"),
    ]
    .into_iter()
    .map(|(partition, region)| {
        AwsTarget::new(partition, region, "123456789012").expect("valid target")
    })
    .collect()
}

#[test]
fn function_policies_have_no_findings() {
    use Operation::*;
    use ResourceKind::*;
    let every_operation = function(
        "chat",
        vec![
            grant(Sagemaker, "llama", SagemakerInvoke),
            grant(Sagemaker, "embedder", SagemakerInvoke),
            grant(KvStore, "history", KvGet),
            grant(KvStore, "history", KvSet),
            grant(KvStore, "history", KvDelete),
            grant(KvStore, "cache", KvGet),
            grant(KvStore, "sessions", KvSet),
            grant(Function, "qa", FunctionInvoke),
            grant(Function, "summarise", FunctionInvoke),
        ],
    );
    let logs_only = function("hello", Vec::new());
    let long = "a-function-name-that-is-as-long-as-names-may-be";
    let long_names = function(
        long,
        vec![
            grant(KvStore, long, KvGet),
            grant(Sagemaker, long, SagemakerInvoke),
            grant(Function, long, FunctionInvoke),
        ],
    );
    let names = StackNames::new("chatbot_history", "dev").expect("valid names");
    let long_project =
        StackNames::new("an_unusually_long_cargo_package_name", "staging").expect("valid names");
    for target in targets() {
        for (label, function, names) in [
            ("function with every operation", &every_operation, &names),
            ("function with only logs", &logs_only, &names),
            ("function with shortened names", &long_names, &long_project),
        ] {
            let label = format!("{label} in {}", target.partition());
            assert_findings(&label, &function_policy(function, &target, names), &[], &[]);
        }
    }
}

#[test]
fn bucket_and_secret_policies_have_no_findings() {
    use Operation::*;
    use ResourceKind::*;
    let every_operation = function(
        "qa",
        vec![
            grant(Bucket, "docs", BucketGet),
            grant(Bucket, "docs", BucketPut),
            grant(Bucket, "docs", BucketDelete),
            grant(Bucket, "docs", BucketList),
            grant(Bucket, "uploads", BucketPut),
            grant(Secret, "hf-token", SecretGet),
            grant(Secret, "api-key", SecretGet),
            grant(KvStore, "history", KvGet),
        ],
    );
    let reader = function("reader", vec![grant(Bucket, "docs", BucketGet)]);
    let lister = function("lister", vec![grant(Bucket, "docs", BucketList)]);
    for target in targets() {
        // Bucket names hash the account and region, as every engine scopes them.
        let names = StackNames::new("document_qa", "dev")
            .expect("valid names")
            .in_account(target.account(), target.region());
        for (label, function) in [
            (
                "function with every bucket and secret operation",
                &every_operation,
            ),
            ("function that only reads objects", &reader),
            ("function that only lists a bucket", &lister),
        ] {
            let label = format!("{label} in {}", target.partition());
            let policy = function_policy(function, &target, &names);
            let rendered = serde_json::to_string(&policy).expect("policies serialise");
            assert!(
                rendered.contains(":s3:::document-qa-dev-docs-"),
                "{rendered}"
            );
            assert_findings(&label, &policy, &[], &[]);
        }
    }
}

#[test]
fn sagemaker_execution_policy_has_no_findings() {
    let names = StackNames::new("chatbot_history", "dev").expect("valid names");
    let target = AwsTarget::new("aws", "us-east-1", "123456789012").expect("valid target");
    let policy = sagemaker_execution_policy(&llama(), &target, &names).expect("ECR image");
    // Community auditors flag the ECR login token, which every image pull needs.
    let community = [(
        "CREDENTIALS_EXPOSURE".to_owned(),
        String::new(), // parliament gives no detail; the action is in its location
    )];
    assert_findings("SageMaker execution policy", &policy, &[], &community);
}

#[test]
fn trust_policies_only_lack_the_resource_parliament_insists_on() {
    // parliament lints identity policies only: it requires `Resource` in every statement, which a
    // trust policy must not have. Every other check it makes must pass.
    let no_resource = [(
        "MALFORMED".to_owned(),
        "Statement contains neither Resource nor NotResource".to_owned(),
    )];
    for (label, policy) in [
        ("Lambda trust policy", lambda_trust_policy()),
        ("SageMaker trust policy", sagemaker_trust_policy()),
    ] {
        assert_eq!(policy.statement.len(), 1);
        assert_findings(label, &policy, &no_resource, &no_resource);
    }
}

#[test]
fn the_linter_does_report_problems() {
    // Guards the tests above against passing vacuously (e.g. parliament reading no policy).
    let star = PolicyDocument::new(vec![Statement {
        sid: Some("TooBroad".to_owned()),
        effect: Effect::Allow,
        principal: None,
        action: vec!["dynamodb:GetItem".to_owned()],
        resource: Some(OneOrMany::One("*".to_owned())),
        condition: None,
    }]);
    let findings = lint(&star, false);
    assert_eq!(
        findings,
        [(
            "RESOURCE_STAR".to_owned(),
            r#"["dynamodb:GetItem"]"#.to_owned()
        )]
    );
}
