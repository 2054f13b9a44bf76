//! `cargo pluto secret set NAME`: gives a secret of the app (`#[resource(secret)]`) its value.
//!
//! The value is read from standard input when it is piped (one trailing newline dropped), else
//! from a hidden prompt on the terminal. It goes to exactly one place: the local secret store of
//! the stack (outside the project, file mode 0600; what `cargo pluto run` answers
//! `GetSecretValue` from) or, with `--deployed`, the deployed secret (`PutSecretValue`). It is
//! never printed, logged, written under `.pluto/` or put in an error message.

use crate::error::CliError;
use crate::invoke::TargetArgs;
use crate::project::{ProjectArgs, check_declared};
use pluto_model::naming::StackNames;
use pluto_spec::ResourceKind;
use pluto_spec::limits::SECRET_VALUE_MAX_BYTES;
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
    check_declared(
        architecture,
        ResourceKind::Secret,
        &args.name,
        |secret, available| CliError::UnknownSecret { secret, available },
    )?;
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
        // One byte more than a value may have (plus a newline), so too large is still seen.
        std::io::stdin()
            .take(SECRET_VALUE_MAX_BYTES as u64 + 3)
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
    if value.len() > SECRET_VALUE_MAX_BYTES {
        return Err(CliError::SecretTooLarge {
            secret: name.to_owned(),
            bytes: value.len(),
        });
    }
    Ok(value)
}

/// `PutSecretValue` on the stack's deployed secret, through the engine (which checks that the
/// secret is the stack's and not scheduled for deletion, and keeps the value out of its errors).
async fn put_deployed(args: &SetArgs, names: &StackNames, value: &str) -> Result<(), CliError> {
    let config = args.target.aws_config().await?;
    let engine = pluto_aws_engine::Engine::new(pluto_aws_engine::from_config(&config).await?);
    engine.put_secret_value(names, &args.name, value).await?;
    Ok(())
}
