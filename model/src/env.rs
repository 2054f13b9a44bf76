//! The environment of a function process: the one derivation of every variable the runtime
//! contract (`pluto_spec::contract`, `docs/runtime-contract.md`) documents, used by every engine.
//!
//! [`function_env`] gives, for one function:
//! - the variables the app declared (`env(...)`), as declared: literals, and secrets the engine
//!   reads from the deploying machine's environment ([`EnvValue::FromDeployEnv`]);
//! - `PLUTO_HANDLER`, `PLUTO_PROJECT`, `PLUTO_STACK`;
//! - `PLUTO_<KIND>_<NAME>`: the physical name of each resource the function was granted an
//!   operation with an IAM action on (a variable set means access was granted);
//! - `PLUTO_URL_<NAME>`: the URL of each function whose URL it reads (`Function::url`), when
//!   that function has a URL and the engine knows it; otherwise the name is listed in
//!   [`FunctionEnv::urls_not_yet_known`] so the engine can set it once the URL exists.
//!
//! Credentials, region and endpoints are the engine's own business (Lambda sets them deployed;
//! the simulator sets its local ones).

use crate::architecture::{Architecture, Function};
use crate::naming::StackNames;
use crate::operation::Operation;
use pluto_spec::EnvValue;
use pluto_spec::contract;
use std::collections::BTreeMap;

/// A function's environment, as [`function_env`] derives it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct FunctionEnv {
    /// Every variable with a value (contract variables as literals).
    pub vars: BTreeMap<String, EnvValue>,
    /// Functions whose URL this function reads but whose URL the engine did not know yet
    /// (`PLUTO_URL_<NAME>` is missing from `vars` for each).
    pub urls_not_yet_known: Vec<String>,
}

/// The environment of `function` in `architecture` deployed as `names`; `url_of` gives the URL of
/// a function by logical name when the engine knows it.
pub fn function_env(
    architecture: &Architecture,
    function: &Function,
    names: &StackNames,
    url_of: &dyn Fn(&str) -> Option<String>,
) -> FunctionEnv {
    let literal = |value: &str| EnvValue::Literal(value.to_owned());
    let mut env = FunctionEnv {
        vars: function.spec.env.clone(),
        urls_not_yet_known: Vec::new(),
    };
    env.vars.insert(
        contract::HANDLER_ENV.to_owned(),
        literal(&function.spec.name),
    );
    env.vars
        .insert(contract::PROJECT_ENV.to_owned(), literal(names.project()));
    env.vars
        .insert(contract::STACK_ENV.to_owned(), literal(names.stack()));
    for grant in &function.grants {
        let resource = &grant.resource;
        if grant.operation == Operation::FunctionUrl {
            let has_url = architecture
                .function(&resource.name)
                .is_some_and(|target| target.spec.url.has_url());
            if !has_url {
                continue;
            }
            match url_of(&resource.name) {
                Some(url) => {
                    env.vars.insert(
                        contract::function_url_env_var(&resource.name),
                        EnvValue::Literal(url),
                    );
                }
                None => {
                    if !env.urls_not_yet_known.contains(&resource.name) {
                        env.urls_not_yet_known.push(resource.name.clone());
                    }
                }
            }
        } else {
            env.vars.insert(
                contract::resource_env_var(resource.kind, &resource.name),
                literal(&names.resource(resource.kind, &resource.name)),
            );
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::architecture::{Grant, ResourceRef, SourceLocation};
    use pluto_spec::{FunctionSpec, ResourceKind, UrlAuth};

    fn function(name: &str, url: UrlAuth, grants: &[(ResourceKind, &str, Operation)]) -> Function {
        Function {
            spec: FunctionSpec {
                name: name.to_owned(),
                url,
                timeout_s: 30,
                memory_mb: 256,
                env: BTreeMap::from([(
                    "MODE".to_owned(),
                    EnvValue::FromDeployEnv("APP_MODE".to_owned()),
                )]),
                cors: None,
            },
            rust_path: format!("app::{name}"),
            params: Vec::new(),
            response: crate::architecture::ResponseMode::Buffered,
            source: SourceLocation {
                file: "src/main.rs".to_owned(),
                line: 1,
                column: 1,
            },
            grants: grants
                .iter()
                .map(|(kind, resource, operation)| Grant {
                    resource: ResourceRef {
                        kind: *kind,
                        name: (*resource).to_owned(),
                    },
                    operation: *operation,
                    provenance: Vec::new(),
                    escaped: None,
                })
                .collect(),
        }
    }

    #[test]
    fn every_documented_variable_is_derived_and_urls_wait_until_known() {
        let site = function(
            "site",
            UrlAuth::Public,
            &[
                (ResourceKind::KvStore, "chat-history", Operation::KvGet),
                (ResourceKind::KvStore, "chat-history", Operation::KvSet),
                (ResourceKind::Function, "worker", Operation::FunctionInvoke),
                (ResourceKind::Function, "site", Operation::FunctionUrl),
                (ResourceKind::Function, "api", Operation::FunctionUrl),
                (ResourceKind::Function, "worker", Operation::FunctionUrl),
            ],
        );
        let architecture = Architecture {
            version: crate::ARCHITECTURE_VERSION,
            project: "app".to_owned(),
            resources: Vec::new(),
            functions: vec![
                site.clone(),
                function("api", UrlAuth::Iam, &[]),
                function("worker", UrlAuth::None, &[]),
            ],
        };
        let names = StackNames::new("app", "dev").expect("valid names");
        let env = function_env(&architecture, &site, &names, &|name| {
            (name == "site").then(|| "https://site.example/".to_owned())
        });
        let literal = |value: &str| EnvValue::Literal(value.to_owned());
        assert_eq!(
            env.vars,
            BTreeMap::from([
                (
                    "MODE".to_owned(),
                    EnvValue::FromDeployEnv("APP_MODE".to_owned())
                ),
                ("PLUTO_HANDLER".to_owned(), literal("site")),
                ("PLUTO_PROJECT".to_owned(), literal("app")),
                ("PLUTO_STACK".to_owned(), literal("dev")),
                (
                    "PLUTO_KV_STORE_CHAT_HISTORY".to_owned(),
                    literal(&names.table("chat-history"))
                ),
                (
                    "PLUTO_FUNCTION_WORKER".to_owned(),
                    literal(&names.function("worker"))
                ),
                (
                    "PLUTO_URL_SITE".to_owned(),
                    literal("https://site.example/")
                ),
            ])
        );
        assert_eq!(env.urls_not_yet_known, ["api"]);
    }
}
