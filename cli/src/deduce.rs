//! `cargo pluto deduce`: the resources, functions and grants (with the calls that need them) as
//! tables, or the `Architecture` as JSON; always written to `.pluto/<stack>/arch.json`.

use crate::error::CliError;
use crate::project::ProjectArgs;
use comfy_table::{Table, presets};
use pluto_model::Architecture;
use pluto_model::ResourceSpec;
use pluto_spec::Hosting;

/// Arguments of `cargo pluto deduce`.
#[derive(Debug, clap::Args)]
pub(crate) struct DeduceArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Print the Architecture as JSON instead of tables.
    #[arg(long)]
    json: bool,
    /// Fail when any grant is conservative (a handle escaped where the analysis could not
    /// follow it), so that every permission is explained by a call.
    #[arg(long)]
    strict: bool,
}

pub(crate) fn run(args: &DeduceArgs) -> Result<(), CliError> {
    let deduction = args.project.deduce()?;
    let architecture = &deduction.architecture;
    let path = args.project.write_architecture(&deduction)?;
    let summary = architecture.grant_summary();
    if args.json {
        print!("{}", architecture.to_json());
    } else {
        print!("{}", render_tables(architecture));
        println!("\n{summary}");
        eprintln!("wrote {}", path.display());
    }
    if args.strict && summary.conservative > 0 {
        return Err(CliError::Conservative {
            count: summary.conservative,
            grants: conservative_grants(architecture),
        });
    }
    Ok(())
}

/// One line per conservative grant: what, and where the handle escaped.
fn conservative_grants(architecture: &Architecture) -> String {
    let mut lines = Vec::new();
    for function in &architecture.functions {
        for grant in &function.grants {
            if let Some(escape) = &grant.escaped {
                lines.push(format!(
                    "  {}: {} on {}: the handle escapes into {} at {}",
                    function.spec.name,
                    grant.operation.label(),
                    grant.resource,
                    escape.into,
                    escape.location
                ));
            }
        }
    }
    lines.join("\n")
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_style(presets::NOTHING);
    table.set_header(header.iter().map(|cell| cell.to_uppercase()));
    table
}

/// The three tables `deduce` prints.
pub(crate) fn render_tables(architecture: &Architecture) -> String {
    let mut resources = table(&["kind", "name", "details", "declared at"]);
    for resource in &architecture.resources {
        let details = match &resource.spec {
            ResourceSpec::Sagemaker(spec) => {
                let hosting = match &spec.hosting {
                    Hosting::Instances {
                        instance_type,
                        initial_instance_count,
                    } => {
                        format!("{initial_instance_count} x {instance_type}")
                    }
                    Hosting::Serverless {
                        memory_mb,
                        max_concurrency,
                    } => {
                        format!("serverless {memory_mb} MB, {max_concurrency} concurrent")
                    }
                };
                let image = spec.image.rsplit('/').next().unwrap_or(&spec.image);
                format!("{hosting}, {image}")
            }
            ResourceSpec::KvStore(_) => "DynamoDB table".to_owned(),
            ResourceSpec::Bucket(spec) if spec.versioning => "S3 bucket, versioned".to_owned(),
            ResourceSpec::Bucket(_) => "S3 bucket".to_owned(),
            ResourceSpec::Secret(_) => "Secrets Manager secret".to_owned(),
        };
        resources.add_row(vec![
            resource.spec.kind().keyword().to_owned(),
            resource.spec.name().to_owned(),
            details,
            resource.source.to_string(),
        ]);
    }
    let mut functions = table(&[
        "name",
        "url",
        "response",
        "timeout",
        "memory",
        "handler",
        "declared at",
    ]);
    for function in &architecture.functions {
        let url = function.spec.url;
        let url = match &function.spec.cors {
            Some(cors) => format!("{url}, CORS {}", cors.allow_origins.join(" ")),
            None => url.to_string(),
        };
        functions.add_row(vec![
            function.spec.name.clone(),
            url,
            function.response.to_string(),
            format!("{} s", function.spec.timeout_s),
            format!("{} MB", function.spec.memory_mb),
            function.rust_path.clone(),
            function.source.to_string(),
        ]);
    }
    let mut grants = table(&["function", "resource", "operation", "because"]);
    for function in &architecture.functions {
        for grant in &function.grants {
            let mut because: Vec<String> =
                grant.provenance.iter().map(ToString::to_string).collect();
            if let Some(escape) = &grant.escaped {
                because.push(format!(
                    "(conservative: the handle escapes into {} at {})",
                    escape.into, escape.location
                ));
            }
            grants.add_row(vec![
                function.spec.name.clone(),
                grant.resource.to_string(),
                grant.operation.label().to_owned(),
                because.join("\n"),
            ]);
        }
        if function.grants.is_empty() {
            grants.add_row(vec![
                function.spec.name.clone(),
                "(none)".to_owned(),
                String::new(),
                String::new(),
            ]);
        }
    }
    format!("Resources\n{resources}\n\nFunctions\n{functions}\n\nGrants\n{grants}\n")
}
