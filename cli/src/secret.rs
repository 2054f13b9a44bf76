//! `cargo pluto secret set NAME`: gives a secret of the app (`#[resource(secret)]`) its value.
//!
//! The value is read from standard input when it is piped (one trailing newline dropped), else
//! from a hidden prompt on the terminal. It goes to exactly one place: the local secret store of
//! the stack (outside the project, file mode 0600; what `cargo pluto run` answers
//! `GetSecretValue` from) or, with `--deployed`, the deployed secret (`PutSecretValue`). It is
//! never printed, logged, written under `.pluto/` or put in an error message.

use crate::error::CliError;
use crate::invoke::{TargetArgs, aws_failure};
use crate::project::ProjectArgs;
use pluto_model::ResourceSpec;
use pluto_model::naming::StackNames;
use std::io::{IsTerminal, Read};

/// Arguments of `cargo pluto secret`.
#[derive(Debug, clap::Args)]
pub(crate) struct SecretArgs {
    #[command(subcommand)]
    command: SecretCommand,
}

#[derive(Debug, clap::Subcommand)]
enum SecretCommand {
    /// Sets the value of a secret: from standard input when piped, else a hidden prompt.
    Set(SetArgs),
}

/// Arguments of `cargo pluto secret set`.
#[derive(Debug, clap::Args)]
struct SetArgs {
    /// The secret, by its name in the app (`#[resource(secret(name = ...))]`, else the declaring
    /// function's name), e.g. `hf-token`.
    #[arg(value_name = "NAME")]
    name: String,
    #[command(flatten)]
    project: ProjectArgs,
    #[command(flatten)]
    target: TargetArgs,
}

pub(crate) fn run(args: &SecretArgs) -> Result<(), CliError> {
    match &args.command {
        SecretCommand::Set(args) => set(args),
    }
}

fn set(args: &SetArgs) -> Result<(), CliError> {
    let deduction = args.project.deduce()?;
    let architecture = &deduction.architecture;
    let secrets: Vec<&str> = architecture
        .resources
        .iter()
        .filter(|resource| matches!(resource.spec, ResourceSpec::Secret(_)))
        .map(|resource| resource.spec.name())
        .collect();
    if !secrets.contains(&args.name.as_str()) {
        return Err(CliError::UnknownSecret {
            secret: args.name.clone(),
            available: if secrets.is_empty() {
                "none: declare one with `#[resource(secret)] fn name() -> Secret;`".to_owned()
            } else {
                secrets.join(", ")
            },
        });
    }
    let names =
        StackNames::new(&architecture.project, &args.project.stack).map_err(CliError::BadStack)?;
    let value = read_value(&args.name)?;
    if args.target.deployed {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(CliError::Runtime)?;
        runtime.block_on(put_deployed(args, &names, &value))?;
        eprintln!(
            "[pluto] set secret `{}` of stack `{}` on AWS ({} bytes, new version)",
            args.name,
            names.stack(),
            value.len()
        );
    } else {
        let store =
            pluto_simulator::secrets::LocalSecrets::for_stack(names.project(), names.stack())
                .map_err(|error| CliError::SecretStore(error.to_string()))?;
        store
            .set(&args.name, &value)
            .map_err(|error| CliError::SecretStore(error.to_string()))?;
        eprintln!(
            "[pluto] set secret `{}` of stack `{}` for `cargo pluto run` ({} bytes, kept in {}); \
             a running function sees it within {} s",
            args.name,
            names.stack(),
            value.len(),
            store.directory().display(),
            pluto_spec::contract::SECRET_CACHE_TTL_S
        );
    }
    Ok(())
}

/// The value: standard input when it is not a terminal, else a hidden prompt.
fn read_value(name: &str) -> Result<String, CliError> {
    let value = if std::io::stdin().is_terminal() {
        rpassword::prompt_password(format!("Value of secret `{name}` (hidden): ")).map_err(
            |source| CliError::Read {
                what: "the secret's value from the terminal".to_owned(),
                source,
            },
        )?
    } else {
        let mut value = String::new();
        std::io::stdin()
            .read_to_string(&mut value)
            .map_err(|source| CliError::Read {
                what: "the secret's value from standard input".to_owned(),
                source,
            })?;
        // `echo value |` and files end with a newline that is not part of the value.
        if value.ends_with('\n') {
            value.pop();
            if value.ends_with('\r') {
                value.pop();
            }
        }
        value
    };
    if value.is_empty() {
        return Err(CliError::EmptySecret(name.to_owned()));
    }
    Ok(value)
}

/// `PutSecretValue` on the stack's deployed secret.
async fn put_deployed(args: &SetArgs, names: &StackNames, value: &str) -> Result<(), CliError> {
    let config = args.target.aws_config().await?;
    let client = aws_sdk_secretsmanager::Client::new(&config);
    let physical = names.secret(&args.name);
    match client
        .put_secret_value()
        .secret_id(&physical)
        .secret_string(value)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        Err(error)
            if error
                .as_service_error()
                .is_some_and(|error| error.is_resource_not_found_exception()) =>
        {
            Err(CliError::SecretNotDeployed {
                secret: args.name.clone(),
                stack: names.stack().to_owned(),
                physical,
            })
        }
        // AWS's message names the secret and the error, never the value sent.
        Err(error) => Err(aws_failure(
            "secretsmanager:PutSecretValue",
            format!("secret {physical}"),
            &error,
        )),
    }
}
