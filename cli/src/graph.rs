//! `cargo pluto graph`: the architecture as a picture — functions (with their URL, and whether
//! they stream), resources, and edges labelled with the operations each function performs — in
//! Mermaid, Graphviz DOT and SVG (our own layout: `pluto_console::svg`, which also owns the edges
//! and URL labels the three share).

use crate::error::CliError;
use crate::project::{ProjectArgs, write_atomically};
use pluto_console::svg::{edges, url_label};
use pluto_model::Architecture;
use pluto_spec::ResourceKind;

/// Arguments of `cargo pluto graph`.
#[derive(Debug, clap::Args)]
pub(crate) struct GraphArgs {
    #[command(flatten)]
    project: ProjectArgs,
    /// Print one format on stdout instead of writing all three under `.pluto/<stack>/`.
    #[arg(long, value_enum)]
    format: Option<GraphFormat>,
}

/// A graph format.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum GraphFormat {
    /// Mermaid flowchart (renders on GitHub and in many editors).
    Mermaid,
    /// Graphviz DOT (`dot -Tsvg`).
    Dot,
    /// A standalone SVG picture (open it in a browser; the dev console shows the same).
    Svg,
}

pub(crate) fn run(args: &GraphArgs) -> Result<(), CliError> {
    let deduction = args.project.deduce()?;
    let architecture = &deduction.architecture;
    match args.format {
        Some(GraphFormat::Mermaid) => print!("{}", mermaid(architecture)),
        Some(GraphFormat::Dot) => print!("{}", dot(architecture)),
        Some(GraphFormat::Svg) => print!("{}", pluto_console::svg::render(architecture)),
        None => {
            let dir = args.project.stack_dir(&deduction.package_root);
            let outputs = [
                ("architecture.mmd", mermaid(architecture)),
                ("architecture.dot", dot(architecture)),
                ("architecture.svg", pluto_console::svg::render(architecture)),
            ];
            for (file, contents) in outputs {
                let path = dir.join(file);
                write_atomically(&path, &contents)?;
                println!("wrote {}", path.display());
            }
        }
    }
    Ok(())
}

/// A node id safe in both formats.
fn node_id(kind: ResourceKind, name: &str) -> String {
    let prefix = match kind {
        ResourceKind::Function => "fn",
        ResourceKind::KvStore => "kv",
        ResourceKind::Sagemaker => "sm",
        ResourceKind::Bucket => "bk",
        ResourceKind::Secret => "sc",
    };
    format!("{prefix}_{}", name.replace('-', "_"))
}

/// The architecture as a Mermaid flowchart.
pub(crate) fn mermaid(architecture: &Architecture) -> String {
    let mut out = String::from("flowchart LR\n");
    for function in &architecture.functions {
        let id = node_id(ResourceKind::Function, &function.spec.name);
        out.push_str(&format!(
            "    {id}[\"function {}<br/>{}\"]\n",
            function.spec.name,
            url_label(function)
        ));
    }
    for resource in &architecture.resources {
        let (kind, name) = (resource.spec.kind(), resource.spec.name());
        let id = node_id(kind, name);
        match kind {
            ResourceKind::KvStore => out.push_str(&format!("    {id}[(\"KV store {name}\")]\n")),
            ResourceKind::Bucket => out.push_str(&format!("    {id}[/\"bucket {name}\"/]\n")),
            ResourceKind::Secret => out.push_str(&format!("    {id}>\"secret {name}\"]\n")),
            _ => out.push_str(&format!("    {id}{{{{\"SageMaker {name}\"}}}}\n")),
        }
    }
    for ((function, resource), labels) in edges(architecture) {
        out.push_str(&format!(
            "    {} -- \"{}\" --> {}\n",
            node_id(ResourceKind::Function, &function),
            labels.join(", "),
            node_id(resource.kind, &resource.name)
        ));
    }
    out
}

/// The architecture as a Graphviz digraph.
pub(crate) fn dot(architecture: &Architecture) -> String {
    let mut out = format!("digraph \"{}\" {{\n    rankdir=LR;\n", architecture.project);
    for function in &architecture.functions {
        let id = node_id(ResourceKind::Function, &function.spec.name);
        out.push_str(&format!(
            "    {id} [shape=box, label=\"function {}\\n{}\"];\n",
            function.spec.name,
            url_label(function)
        ));
    }
    for resource in &architecture.resources {
        let (kind, name) = (resource.spec.kind(), resource.spec.name());
        let (shape, label) = match kind {
            ResourceKind::KvStore => ("cylinder", "KV store"),
            ResourceKind::Bucket => ("folder", "bucket"),
            ResourceKind::Secret => ("note", "secret"),
            _ => ("hexagon", "SageMaker"),
        };
        out.push_str(&format!(
            "    {} [shape={shape}, label=\"{label}\\n{name}\"];\n",
            node_id(kind, name)
        ));
    }
    for ((function, resource), labels) in edges(architecture) {
        out.push_str(&format!(
            "    {} -> {} [label=\"{}\"];\n",
            node_id(ResourceKind::Function, &function),
            node_id(resource.kind, &resource.name),
            labels.join(", ")
        ));
    }
    out.push_str("}\n");
    out
}
