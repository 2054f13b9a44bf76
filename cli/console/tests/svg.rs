//! The architecture SVG of the example apps and of the deducer's fixtures: well-formed, one node
//! per function and resource with the console's data attributes, one labelled edge per
//! (function, target) pair, and a layout where no boxes or labels overlap and everything fits.

#![allow(clippy::unwrap_used)]

use pluto_deducer::source::PackageSelector;
use pluto_model::{Architecture, CallChain, Grant, Operation, ResourceRef};
use pluto_spec::ResourceKind;
use std::collections::BTreeMap;
use std::path::Path;

fn deduce(dir: &str) -> Architecture {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(dir)
        .join("Cargo.toml");
    let selector = PackageSelector {
        manifest_path: Some(manifest),
        package: None,
        bin: None,
    };
    pluto_deducer::deduce(&selector)
        .unwrap_or_else(|error| panic!("{dir} deduces: {error:?}"))
        .architecture
}

#[derive(Debug, Clone, Copy)]
struct Box2 {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Box2 {
    fn of(rect: roxmltree::Node<'_, '_>) -> Self {
        let number = |name: &str| -> f64 {
            rect.attribute(name)
                .unwrap_or_else(|| panic!("rect without {name}"))
                .parse()
                .unwrap()
        };
        Self {
            x: number("x"),
            y: number("y"),
            width: number("width"),
            height: number("height"),
        }
    }

    fn overlaps(&self, other: &Self) -> bool {
        self.x < other.x + other.width
            && other.x < self.x + self.width
            && self.y < other.y + other.height
            && other.y < self.y + self.height
    }

    /// Whether a point is on or inside the box (within half a pixel).
    fn touches(&self, (x, y): (f64, f64)) -> bool {
        x >= self.x - 0.5
            && x <= self.x + self.width + 0.5
            && y >= self.y - 0.5
            && y <= self.y + self.height + 0.5
    }
}

fn has_class(node: roxmltree::Node<'_, '_>, class: &str) -> bool {
    node.attribute("class")
        .is_some_and(|classes| classes.split_whitespace().any(|name| name == class))
}

fn groups<'a, 'input>(
    document: &'a roxmltree::Document<'input>,
    class: &'a str,
) -> impl Iterator<Item = roxmltree::Node<'a, 'input>> + 'a {
    document
        .descendants()
        .filter(move |node| node.has_tag_name("g") && has_class(*node, class))
}

/// The coordinate pairs of a path's data (`M x,y L x,y C x,y x,y x,y`).
fn path_points(data: &str) -> Vec<(f64, f64)> {
    data.split(|character: char| character.is_ascii_alphabetic() || character == ' ')
        .filter(|part| !part.is_empty())
        .map(|pair| {
            let (x, y) = pair.split_once(',').unwrap();
            (x.parse().unwrap(), y.parse().unwrap())
        })
        .collect()
}

/// The edges the SVG must show: (function, `kind:name`) -> operation labels.
fn expected_edges(architecture: &Architecture) -> BTreeMap<(String, String), Vec<&'static str>> {
    let mut edges: BTreeMap<(String, String), Vec<&'static str>> = BTreeMap::new();
    for function in &architecture.functions {
        for grant in &function.grants {
            let target = format!("{}:{}", grant.resource.kind.keyword(), grant.resource.name);
            let labels = edges
                .entry((function.spec.name.clone(), target))
                .or_default();
            if !labels.contains(&grant.operation.label()) {
                labels.push(grant.operation.label());
            }
        }
    }
    edges
}

/// Renders the architecture and checks everything the console and a reader rely on; returns the
/// SVG.
fn render_and_check(architecture: &Architecture) -> String {
    let svg = pluto_console::svg::render(architecture);
    let document = roxmltree::Document::parse(&svg)
        .unwrap_or_else(|error| panic!("the SVG is well-formed XML: {error}\n{svg}"));
    let root = document.root_element();
    assert!(root.has_tag_name(("http://www.w3.org/2000/svg", "svg")));
    let width: f64 = root.attribute("width").unwrap().parse().unwrap();
    let height: f64 = root.attribute("height").unwrap().parse().unwrap();
    assert_eq!(
        root.attribute("viewBox"),
        Some(format!("0 0 {width} {height}").as_str())
    );
    assert!(
        document
            .descendants()
            .any(|node| node.has_tag_name("style")),
        "styles are inside the SVG"
    );
    for node in document.descendants() {
        for attribute in node.attributes() {
            let value = attribute.value();
            assert!(
                !value.contains("http") || attribute.name() == "xmlns",
                "external reference in {}: {value}",
                attribute.name()
            );
        }
    }
    assert!(!svg.contains("@import") && !svg.contains("href"), "{svg}");
    assert!(
        document
            .descendants()
            .any(|node| node.has_tag_name("text")
                && node.text() == Some(architecture.project.as_str())),
        "the project name is the title"
    );

    // One node per function and resource, with the console's attributes and a tooltip.
    let mut expected_nodes: Vec<(String, String)> = architecture
        .functions
        .iter()
        .map(|function| ("function".to_owned(), function.spec.name.clone()))
        .chain(architecture.resources.iter().map(|resource| {
            (
                resource.spec.kind().keyword().to_owned(),
                resource.spec.name().to_owned(),
            )
        }))
        .collect();
    expected_nodes.sort();
    let mut nodes: Vec<(String, String)> = Vec::new();
    let mut node_boxes: BTreeMap<(String, String), Box2> = BTreeMap::new();
    for node in groups(&document, "node") {
        assert_eq!(node.attribute("class"), Some("node"));
        let kind = node.attribute("data-kind").unwrap().to_owned();
        let name = node.attribute("data-name").unwrap().to_owned();
        assert_eq!(
            node.attribute("id"),
            Some(format!("node-{kind}-{name}").as_str())
        );
        assert!(
            node.children().any(|child| child.has_tag_name("title")
                && child.text().is_some_and(|text| text.contains(&name))),
            "{kind} {name} has a tooltip"
        );
        let hit = node
            .children()
            .find(|child| child.has_tag_name("rect") && has_class(*child, "hit"))
            .unwrap();
        node_boxes.insert((kind.clone(), name.clone()), Box2::of(hit));
        nodes.push((kind, name));
    }
    nodes.sort();
    assert_eq!(nodes, expected_nodes, "one node per function and resource");

    // One edge per (function, target) with its operations, from the function's box to the
    // target's.
    let expected = expected_edges(architecture);
    let mut seen = 0;
    let mut label_boxes: Vec<(String, Box2)> = Vec::new();
    for edge in groups(&document, "edge") {
        assert_eq!(edge.attribute("class"), Some("edge"));
        let from = edge.attribute("data-from").unwrap().to_owned();
        let to = edge.attribute("data-to").unwrap().to_owned();
        let labels = expected
            .get(&(from.clone(), to.clone()))
            .unwrap_or_else(|| panic!("unexpected edge {from} -> {to}"));
        seen += 1;
        let label = groups(&document, "label")
            .find(|label| label.parent() == Some(edge))
            .unwrap_or_else(|| panic!("edge {from} -> {to} has a label"));
        let text = label
            .children()
            .find(|child| child.has_tag_name("text"))
            .and_then(|text| text.text())
            .unwrap();
        assert_eq!(text, labels.join(", "), "label of {from} -> {to}");
        let background = label
            .children()
            .find(|child| child.has_tag_name("rect"))
            .unwrap();
        label_boxes.push((format!("{from} -> {to}"), Box2::of(background)));

        let path = edge
            .children()
            .find(|child| child.has_tag_name("path"))
            .unwrap();
        assert_eq!(path.attribute("marker-end"), Some("url(#pluto-arrow)"));
        let points = path_points(path.attribute("d").unwrap());
        let (kind, name) = to.split_once(':').unwrap();
        let source = node_boxes[&("function".to_owned(), from.clone())];
        let target = node_boxes[&(kind.to_owned(), name.to_owned())];
        assert!(
            source.touches(points[0]),
            "{from} -> {to} starts at {from}: {points:?} {source:?}"
        );
        assert!(
            target.touches(*points.last().unwrap()),
            "{from} -> {to} ends at {to}: {points:?} {target:?}"
        );
    }
    assert_eq!(seen, expected.len(), "one edge per function and target");

    // Nothing overlaps.
    let node_list: Vec<_> = node_boxes.iter().collect();
    for (index, (a, box_a)) in node_list.iter().enumerate() {
        for (b, box_b) in &node_list[index + 1..] {
            assert!(!box_a.overlaps(box_b), "{a:?} overlaps {b:?}");
        }
        for (label, label_box) in &label_boxes {
            assert!(
                !box_a.overlaps(label_box),
                "label of {label} overlaps {a:?}"
            );
        }
    }
    for (index, (a, box_a)) in label_boxes.iter().enumerate() {
        for (b, box_b) in &label_boxes[index + 1..] {
            assert!(!box_a.overlaps(box_b), "label of {a} overlaps label of {b}");
        }
    }

    // Everything fits the view box.
    let inside = |(x, y): (f64, f64), what: &str| {
        assert!(
            (0.0..=width).contains(&x) && (0.0..=height).contains(&y),
            "{what} at ({x}, {y}) is outside 0 0 {width} {height}"
        );
    };
    for node in document.descendants().filter(|node| node.is_element()) {
        let number = |name: &str| {
            node.attribute(name)
                .map(|value| value.parse::<f64>().unwrap())
        };
        match node.tag_name().name() {
            "rect" => {
                let shape = Box2::of(node);
                inside((shape.x, shape.y), "a rect");
                inside((shape.x + shape.width, shape.y + shape.height), "a rect");
            }
            "text" => inside((number("x").unwrap(), number("y").unwrap()), "a text"),
            "ellipse" => {
                let (cx, cy) = (number("cx").unwrap(), number("cy").unwrap());
                let (rx, ry) = (number("rx").unwrap(), number("ry").unwrap());
                inside((cx - rx, cy - ry), "an ellipse");
                inside((cx + rx, cy + ry), "an ellipse");
            }
            "polygon" => {
                for pair in node.attribute("points").unwrap().split(' ') {
                    let (x, y) = pair.split_once(',').unwrap();
                    inside((x.parse().unwrap(), y.parse().unwrap()), "a polygon");
                }
            }
            "path"
                if node
                    .ancestors()
                    .all(|parent| !parent.has_tag_name("marker")) =>
            {
                let data = node.attribute("d").unwrap();
                // Cylinders' arcs (`A rx ry ...`) are checked through their node's box.
                if !data.contains('A') {
                    for point in path_points(data) {
                        inside(point, "a path");
                    }
                }
            }
            _ => {}
        }
    }
    svg
}

/// The text of the node `kind`/`name`.
fn node_text(svg: &str, kind: &str, name: &str) -> String {
    let document = roxmltree::Document::parse(svg).unwrap();
    let node = groups(&document, "node")
        .find(|node| {
            node.attribute("data-kind") == Some(kind) && node.attribute("data-name") == Some(name)
        })
        .unwrap_or_else(|| panic!("no node {kind} {name}"));
    node.descendants()
        .filter(|child| child.has_tag_name("text"))
        .filter_map(|child| child.text())
        .collect::<Vec<_>>()
        .join(" | ")
}

#[test]
fn langchain_llama() {
    let architecture = deduce("examples/langchain-llama");
    let svg = render_and_check(&architecture);
    assert_eq!(
        node_text(&svg, "function", "chatbot"),
        "FUNCTION | chatbot | fn chat | public URL | streams | 120 s · 512 MB"
    );
    assert_eq!(
        node_text(&svg, "sagemaker", "llama"),
        "SAGEMAKER ENDPOINT | llama | ml.m5.xlarge × 1"
    );
    insta::assert_snapshot!("langchain_llama", svg);
}

#[test]
fn chatbot_history() {
    let architecture = deduce("examples/chatbot-history");
    let svg = render_and_check(&architecture);
    assert_eq!(
        node_text(&svg, "function", "forget"),
        "FUNCTION | forget | public URL | 30 s · 256 MB"
    );
    assert_eq!(
        node_text(&svg, "kv_store", "chat-history"),
        "KV STORE | chat-history"
    );
}

#[test]
fn streaming_fixture_shows_every_url_kind_and_which_functions_stream() {
    let architecture = deduce("deducer/tests/fixtures/streaming");
    let svg = render_and_check(&architecture);
    assert!(node_text(&svg, "function", "chat").contains("| IAM URL | 30 s"));
    assert!(node_text(&svg, "function", "chat-stream").contains("| public URL | streams |"));
    assert!(node_text(&svg, "function", "echo-stream").contains("| no URL | streams |"));
}

#[test]
fn invocations_put_invoked_functions_in_later_columns() {
    // `caller` invokes `summarize`, `links` gets `chat`'s URL and its own, `hidden` its own.
    let architecture = deduce("deducer/tests/fixtures/patterns");
    let svg = render_and_check(&architecture);
    let document = roxmltree::Document::parse(&svg).unwrap();
    let left = |name: &str| -> f64 {
        let node = groups(&document, "node")
            .find(|node| node.attribute("data-name") == Some(name))
            .unwrap();
        let hit = node
            .children()
            .find(|child| has_class(*child, "hit"))
            .unwrap();
        Box2::of(hit).x
    };
    assert!(left("caller") < left("summarize"));
    assert!(left("links") < left("chat"));
    assert!(left("summarize") < left("model"));
    assert_eq!(
        left("caller"),
        left("admin"),
        "functions nobody invokes share a column"
    );
}

#[test]
fn cycles_of_invocations_are_drawn() {
    let mut architecture = deduce("examples/chatbot-history");
    let invoke = |name: &str| Grant {
        resource: ResourceRef {
            kind: ResourceKind::Function,
            name: name.to_owned(),
        },
        operation: Operation::FunctionInvoke,
        provenance: vec![CallChain { steps: Vec::new() }],
        escaped: None,
    };
    for (function, callee) in [("chat", "forget"), ("forget", "chat"), ("forget", "forget")] {
        architecture
            .functions
            .iter_mut()
            .find(|candidate| candidate.spec.name == function)
            .unwrap()
            .grants
            .push(invoke(callee));
    }
    render_and_check(&architecture);
}

#[test]
fn text_is_escaped() {
    let mut architecture = deduce("examples/chatbot-history");
    architecture.project = "a<b&\"c'>".to_owned();
    render_and_check(&architecture);
}

#[test]
fn an_empty_app_still_renders() {
    let mut architecture = deduce("examples/chatbot-history");
    architecture.functions.clear();
    architecture.resources.clear();
    render_and_check(&architecture);
}

#[test]
fn edges_merge_the_operations_of_a_function_on_a_target() {
    let architecture = deduce("examples/chatbot-history");
    let edges = pluto_console::svg::edges(&architecture);
    let history = ResourceRef {
        kind: ResourceKind::KvStore,
        name: "chat-history".to_owned(),
    };
    assert_eq!(edges[&("chat".to_owned(), history.clone())], ["get", "set"]);
    assert_eq!(edges[&("forget".to_owned(), history)], ["delete"]);
    let chat = architecture.function("chat").unwrap();
    assert_eq!(pluto_console::svg::url_label(chat), "public URL, streaming");
}
