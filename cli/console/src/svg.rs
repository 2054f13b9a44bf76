//! The architecture picture as one self-contained SVG document: what `cargo pluto graph --format
//! svg` prints and the dev console shows. Functions are cards (URL badge, streaming mark, timeout
//! and memory), KV stores cylinders, SageMaker endpoints hexagons; each edge carries the operations
//! a function performs on its target.
//!
//! The layout is our own layered one, so no Graphviz is needed: functions nobody invokes on the
//! left, the functions they invoke next, resources on the right; crossings reduced by barycenter
//! sweeps; edge labels laid out like nodes (in their own columns between node columns), so no two
//! labels or boxes overlap and edges never cross a box. [`edges`] and [`url_label`] are the facts
//! the Mermaid and DOT outputs of `cargo pluto graph` share with it.

use pluto_model::{Architecture, Function, ResourceRef, ResourceSpec};
use pluto_spec::{Hosting, ResourceKind, UrlAuth};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

/// The edges of an architecture: (function, target) -> the labels of the operations the function
/// performs on it, deduplicated, in grant order. Sorted by function, then target.
pub type Edges = BTreeMap<(String, ResourceRef), Vec<&'static str>>;

/// The edges of the architecture (see [`Edges`]).
pub fn edges(architecture: &Architecture) -> Edges {
    let mut edges = Edges::new();
    for function in &architecture.functions {
        for grant in &function.grants {
            let labels = edges
                .entry((function.spec.name.clone(), grant.resource.clone()))
                .or_default();
            if !labels.contains(&grant.operation.label()) {
                labels.push(grant.operation.label());
            }
        }
    }
    edges
}

/// `public URL`, `iam URL` or `no URL`, with `, streaming` for a function that streams.
pub fn url_label(function: &Function) -> String {
    let url = function.spec.url;
    let url = if url.has_url() {
        format!("{url} URL")
    } else {
        "no URL".to_owned()
    };
    if function.response.is_stream() {
        format!("{url}, streaming")
    } else {
        url
    }
}

/// The architecture as a standalone SVG document (also fit to be inlined in an HTML page: its
/// styles are scoped to the `pluto-architecture` class of its root).
///
/// Every node is a `<g class="node" data-kind="function|kv_store|sagemaker|bucket|secret" data-name="NAME"
/// id="node-KIND-NAME">` with a `<title>`; every edge a `<g class="edge" data-from="FUNCTION"
/// data-to="KIND:NAME">`. The styles also define `g.node.selected`, `g.edge.highlight` and
/// `.dimmed` for the console to set.
pub fn render(architecture: &Architecture) -> String {
    let graph = Graph::new(architecture);
    let layout = Layout::compute(&graph, DIAGRAM_TOP);
    draw(architecture, &graph, &layout)
}

// --- Sizes (px) -------------------------------------------------------------------------------

/// Space around the whole picture.
const MARGIN: f64 = 24.0;
/// Where the diagram starts, below the title and subtitle.
const DIAGRAM_TOP: f64 = 88.0;
/// Horizontal padding inside a function card.
const CARD_PADDING: f64 = 14.0;
/// Narrowest node.
const MIN_NODE_WIDTH: f64 = 150.0;
/// Vertical space between two nodes of a column.
const NODE_GAP: f64 = 28.0;
/// Vertical space between a node and an edge passing it or a label.
const NODE_EDGE_GAP: f64 = 14.0;
/// Vertical space between two labels or passing edges.
const EDGE_GAP: f64 = 8.0;
/// Height of an edge label.
const LABEL_HEIGHT: f64 = 20.0;
/// Horizontal padding inside an edge label.
const LABEL_PADDING: f64 = 8.0;
/// Narrowest column of labels.
const MIN_LABEL_COLUMN: f64 = 24.0;
/// Height of a URL or streams badge.
const BADGE_HEIGHT: f64 = 18.0;
/// Horizontal padding inside a badge.
const BADGE_PADDING: f64 = 7.0;
/// Space between two badges.
const BADGE_GAP: f64 = 6.0;
/// Half height of a cylinder's ellipses.
const CYLINDER_RY: f64 = 8.0;
/// How far a hexagon's points stick out of its sides.
const HEXAGON_SLANT: f64 = 14.0;
/// How high the control points of a self-invocation's loop are above its card.
const LOOP_RISE: f64 = 26.0;
/// Space kept above a card with a self-invocation: its loop and label.
const LOOP_RESERVE: f64 = LOOP_RISE + 8.0;
/// Narrowest and widest horizontal space an edge has to go from one column to the next.
const MIN_STRIP: f64 = 44.0;
const MAX_STRIP: f64 = 110.0;
/// Largest vertical distance between two edge ends on one side of a node.
const PORT_SPACING: f64 = 12.0;
/// Barycenter sweeps (crossing reduction) and placement sweeps (straightening).
const ORDER_SWEEPS: usize = 12;
const PLACE_SWEEPS: usize = 10;

/// The fonts of the picture, for estimating text widths (the SVG has no access to font metrics;
/// the estimates are generous so text fits in any system font).
#[derive(Debug, Clone, Copy)]
enum Font {
    /// The project name.
    Title,
    /// The line under the title.
    Subtitle,
    /// `FUNCTION`, `KV STORE`: 10px upper case, spaced.
    Caption,
    /// Node names: 14px bold.
    Name,
    /// The handler: 12px monospace.
    Mono,
    /// Badges: 11px semibold.
    Badge,
    /// Timeout and memory, hosting: 11px.
    Meta,
    /// Edge labels and legend text: 12px.
    Label,
}

impl Font {
    fn size(self) -> f64 {
        match self {
            Self::Title => 18.0,
            Self::Subtitle | Self::Label | Self::Mono => 12.0,
            Self::Caption => 10.0,
            Self::Name => 14.0,
            Self::Badge | Self::Meta => 11.0,
        }
    }

    /// Average advance of one character, in em.
    fn advance(self) -> f64 {
        match self {
            Self::Title | Self::Name | Self::Mono | Self::Badge => 0.6,
            Self::Caption => 0.8,
            Self::Subtitle | Self::Meta | Self::Label => 0.56,
        }
    }

    fn width(self, text: &str) -> f64 {
        (text.chars().count() as f64 * self.size() * self.advance()).ceil()
    }
}

// --- The graph to draw ------------------------------------------------------------------------

/// A node: a function or a resource, with what its shape shows.
#[derive(Debug)]
struct Node {
    kind: ResourceKind,
    name: String,
    tooltip: String,
    body: Body,
    /// Its shape's natural width (a column's nodes are then given the column's width).
    width: f64,
    height: f64,
    /// Whether it invokes itself (drawn as a loop above it).
    self_loop: Option<usize>,
}

#[derive(Debug)]
enum Body {
    Function {
        /// The handler's name when it differs from the function's.
        handler: Option<String>,
        auth: UrlAuth,
        streams: bool,
        /// `120 s · 512 MB`.
        meta: String,
    },
    KvStore,
    Sagemaker {
        /// `ml.m5.xlarge × 1` or `serverless · 2048 MB`.
        hosting: String,
    },
    /// A bucket or a secret: a card with a caption, the name and one line of detail.
    Store {
        /// `S3 · versioned`, `Secrets Manager`.
        detail: &'static str,
    },
}

/// Vertical positions inside a function card, from its top.
#[derive(Debug)]
struct CardRows {
    caption: f64,
    name: f64,
    handler: Option<f64>,
    badges_top: f64,
    meta: f64,
    height: f64,
}

impl CardRows {
    fn new(has_handler: bool) -> Self {
        let caption = 21.0;
        let name = 40.0;
        let (handler, below_name) = if has_handler {
            (Some(57.0), 62.0)
        } else {
            (None, 46.0)
        };
        let badges_top = below_name + 4.0;
        let meta = badges_top + BADGE_HEIGHT + 16.0;
        Self {
            caption,
            name,
            handler,
            badges_top,
            meta,
            height: meta + 12.0,
        }
    }
}

/// Vertical positions inside a resource shape, from its top: caption, name, and hosting.
const RESOURCE_CAPTION: f64 = 27.0;
const RESOURCE_NAME: f64 = 45.0;
const RESOURCE_META: f64 = 61.0;
const RESOURCE_HEIGHT: f64 = 74.0;
const KV_CAPTION: f64 = 33.0;
const KV_NAME: f64 = 51.0;
const KV_HEIGHT: f64 = 72.0;

fn url_badge(auth: UrlAuth) -> (&'static str, &'static str) {
    match auth {
        UrlAuth::Public => ("badge-public", "public URL"),
        UrlAuth::Iam => ("badge-iam", "IAM URL"),
        UrlAuth::None => ("badge-none", "no URL"),
    }
}

fn badge_width(text: &str) -> f64 {
    Font::Badge.width(text) + 2.0 * BADGE_PADDING
}

fn kind_caption(kind: ResourceKind) -> &'static str {
    match kind {
        ResourceKind::Function => "FUNCTION",
        ResourceKind::KvStore => "KV STORE",
        ResourceKind::Sagemaker => "SAGEMAKER ENDPOINT",
        ResourceKind::Bucket => "BUCKET",
        ResourceKind::Secret => "SECRET",
    }
}

impl Node {
    fn function(function: &Function) -> Self {
        let spec = &function.spec;
        let handler_name = function
            .rust_path
            .rsplit("::")
            .next()
            .unwrap_or(&function.rust_path);
        let handler =
            (handler_name.replace('_', "-") != spec.name).then(|| format!("fn {handler_name}"));
        let streams = function.response.is_stream();
        let meta = format!("{} s · {} MB", spec.timeout_s, spec.memory_mb);
        let (_, badge) = url_badge(spec.url);
        let mut badges = badge_width(badge);
        if streams {
            badges += BADGE_GAP + badge_width("streams");
        }
        let content = [
            Font::Caption.width(kind_caption(ResourceKind::Function)),
            Font::Name.width(&spec.name),
            handler
                .as_deref()
                .map_or(0.0, |handler| Font::Mono.width(handler)),
            badges,
            Font::Meta.width(&meta),
        ]
        .into_iter()
        .fold(0.0, f64::max);
        let mut tooltip = format!(
            "function {}\nhandler {}\n{}: {}",
            spec.name,
            function.rust_path,
            url_badge(spec.url).1,
            spec.url.meaning()
        );
        if streams {
            tooltip.push_str("\nstreams its response");
        }
        let _ = write!(
            tooltip,
            "\ntimeout {} s, memory {} MB",
            spec.timeout_s, spec.memory_mb
        );
        let rows = CardRows::new(handler.is_some());
        Self {
            kind: ResourceKind::Function,
            name: spec.name.clone(),
            tooltip,
            body: Body::Function {
                handler,
                auth: spec.url,
                streams,
                meta,
            },
            width: (content + 2.0 * CARD_PADDING).max(MIN_NODE_WIDTH).ceil(),
            height: rows.height,
            self_loop: None,
        }
    }

    fn resource(spec: &ResourceSpec) -> Self {
        let kind = spec.kind();
        let name = spec.name().to_owned();
        let caption = Font::Caption.width(kind_caption(kind));
        let name_width = Font::Name.width(&name);
        match spec {
            ResourceSpec::KvStore(_) => Self {
                kind,
                tooltip: format!("KV store {name}"),
                width: (caption.max(name_width) + 2.0 * CARD_PADDING)
                    .max(MIN_NODE_WIDTH)
                    .ceil(),
                height: KV_HEIGHT,
                name,
                body: Body::KvStore,
                self_loop: None,
            },
            ResourceSpec::Bucket(_) | ResourceSpec::Secret(_) => {
                let detail = match spec {
                    ResourceSpec::Bucket(bucket) if bucket.versioning => "S3 · versioned",
                    ResourceSpec::Bucket(_) => "S3",
                    _ => "Secrets Manager",
                };
                let content = caption.max(name_width).max(Font::Meta.width(detail));
                Self {
                    kind,
                    tooltip: format!("{kind} {name}\n{detail}"),
                    width: (content + 2.0 * CARD_PADDING).max(MIN_NODE_WIDTH).ceil(),
                    height: RESOURCE_HEIGHT,
                    name,
                    body: Body::Store { detail },
                    self_loop: None,
                }
            }
            ResourceSpec::Sagemaker(sagemaker) => {
                let hosting = match &sagemaker.hosting {
                    Hosting::Instances {
                        instance_type,
                        initial_instance_count,
                    } => format!("{instance_type} × {initial_instance_count}"),
                    Hosting::Serverless { memory_mb, .. } => {
                        format!("serverless · {memory_mb} MB")
                    }
                };
                let content = caption.max(name_width).max(Font::Meta.width(&hosting));
                Self {
                    kind,
                    tooltip: format!(
                        "SageMaker endpoint {name}\n{hosting}\nimage {}",
                        sagemaker.image
                    ),
                    width: (content + 2.0 * (HEXAGON_SLANT + 8.0))
                        .max(MIN_NODE_WIDTH)
                        .ceil(),
                    height: RESOURCE_HEIGHT,
                    name,
                    body: Body::Sagemaker { hosting },
                    self_loop: None,
                }
            }
        }
    }

    /// `function`, `kv_store`, `sagemaker`, `bucket` or `secret`.
    fn kind_keyword(&self) -> &'static str {
        self.kind.keyword()
    }
}

/// An edge between two different nodes or, for a function that invokes itself, a loop.
#[derive(Debug)]
struct Edge {
    from: usize,
    to: usize,
    /// `get, set`.
    label: String,
    label_width: f64,
}

#[derive(Debug)]
struct Graph {
    /// Functions (sorted by name), then resources (sorted by name).
    nodes: Vec<Node>,
    edges: Vec<Edge>,
    functions: usize,
}

impl Graph {
    fn new(architecture: &Architecture) -> Self {
        let mut nodes: Vec<Node> = architecture.functions.iter().map(Node::function).collect();
        let functions = nodes.len();
        nodes.extend(
            architecture
                .resources
                .iter()
                .map(|resource| Node::resource(&resource.spec)),
        );
        let index: HashMap<(ResourceKind, String), usize> = nodes
            .iter()
            .enumerate()
            .map(|(at, node)| ((node.kind, node.name.clone()), at))
            .collect();
        let mut graph_edges = Vec::new();
        for ((function, target), labels) in edges(architecture) {
            let from = index.get(&(ResourceKind::Function, function));
            let to = index.get(&(target.kind, target.name));
            // A grant always names a declared resource; an edge to nothing cannot be drawn.
            let (Some(&from), Some(&to)) = (from, to) else {
                continue;
            };
            let label = labels.join(", ");
            let label_width = Font::Label.width(&label) + 2.0 * LABEL_PADDING;
            if from == to {
                nodes[from].self_loop = Some(graph_edges.len());
            }
            graph_edges.push(Edge {
                from,
                to,
                label,
                label_width,
            });
        }
        Self {
            nodes,
            edges: graph_edges,
            functions,
        }
    }
}

// --- Layout -----------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq)]
struct Point {
    x: f64,
    y: f64,
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: f64,
    y: f64,
    width: f64,
    height: f64,
}

impl Rect {
    fn center(&self) -> Point {
        Point {
            x: self.x + self.width / 2.0,
            y: self.y + self.height / 2.0,
        }
    }
}

/// A cubic Bézier segment: start, two control points, end (a straight line has its control
/// points on its ends).
type Segment = [Point; 4];

/// Where an edge is drawn.
#[derive(Debug)]
struct EdgeGeometry {
    /// From the function to its target (the arrow head is at the end).
    segments: Vec<Segment>,
    /// The label's background.
    label: Rect,
}

/// What a column slot holds: a node, or the point an edge passes a column at (with its label
/// when the column is the edge's label column).
#[derive(Debug, Clone, Copy)]
enum Slot {
    Node(usize),
    Edge { label: bool },
}

#[derive(Debug)]
struct Item {
    slot: Slot,
    rank: usize,
    /// Extent above and below the anchor (the y edges attach at).
    up: f64,
    down: f64,
    width: f64,
}

#[derive(Debug)]
struct Layout {
    boxes: Vec<Rect>,
    edges: Vec<EdgeGeometry>,
    /// Right and bottom of everything drawn.
    right: f64,
    bottom: f64,
}

impl Layout {
    fn compute(graph: &Graph, top: f64) -> Self {
        let layers = layers(graph);
        let node_rank: Vec<usize> = layers.layer.iter().map(|layer| 2 * layer).collect();

        // Items: nodes, then one slot per edge per column it crosses.
        let mut items: Vec<Item> = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(at, node)| Item {
                slot: Slot::Node(at),
                rank: node_rank[at],
                up: node.height / 2.0
                    + if node.self_loop.is_some() {
                        LOOP_RESERVE
                    } else {
                        0.0
                    },
                down: node.height / 2.0,
                width: node.width,
            })
            .collect();
        // Per edge, its items from the lower column to the higher one.
        let mut chains: Vec<Vec<usize>> = vec![Vec::new(); graph.edges.len()];
        for (at, edge) in graph.edges.iter().enumerate() {
            if edge.from == edge.to {
                continue;
            }
            let (low, high) = if layers.reversed[at] {
                (edge.to, edge.from)
            } else {
                (edge.from, edge.to)
            };
            // The label sits in the column next to the edge's target.
            let label_rank = if layers.reversed[at] {
                node_rank[low] + 1
            } else {
                node_rank[high] - 1
            };
            let mut chain = vec![low];
            for rank in node_rank[low] + 1..node_rank[high] {
                let label = rank == label_rank;
                let half = if label { LABEL_HEIGHT / 2.0 } else { 0.0 };
                chain.push(items.len());
                items.push(Item {
                    slot: Slot::Edge { label },
                    rank,
                    up: half,
                    down: half,
                    width: if label { edge.label_width } else { 0.0 },
                });
            }
            chain.push(high);
            chains[at] = chain;
        }
        let ranks = items.iter().map(|item| item.rank + 1).max().unwrap_or(0);
        let mut predecessors: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
        let mut successors: Vec<Vec<usize>> = vec![Vec::new(); items.len()];
        for chain in &chains {
            for pair in chain.windows(2) {
                successors[pair[0]].push(pair[1]);
                predecessors[pair[1]].push(pair[0]);
            }
        }

        let order = order_columns(&items, ranks, &predecessors, &successors);
        let mut anchors = place_vertically(&items, &order, &predecessors, &successors, top);
        straighten(&items, &order, &chains, &mut anchors);

        // Columns: widths, then the strips between them as wide as their steepest edge needs.
        let mut column_width = vec![0.0_f64; ranks];
        for item in &items {
            column_width[item.rank] = column_width[item.rank].max(item.width);
        }
        for (rank, width) in column_width.iter_mut().enumerate() {
            if rank % 2 == 1 {
                *width = width.max(MIN_LABEL_COLUMN);
            }
        }
        let ports = ports(graph, &chains, &anchors);
        let mut strip = vec![MIN_STRIP; ranks];
        for (at, chain) in chains.iter().enumerate() {
            for pair in chain.windows(2) {
                let start = ports.y(at, pair[0], &anchors);
                let end = ports.y(at, pair[1], &anchors);
                let rank = items[pair[0]].rank;
                strip[rank] = strip[rank].max(((end - start).abs() * 0.3).min(MAX_STRIP));
            }
        }
        let mut column_left = vec![MARGIN; ranks];
        for rank in 1..ranks {
            column_left[rank] = column_left[rank - 1] + column_width[rank - 1] + strip[rank - 1];
        }

        let boxes: Vec<Rect> = graph
            .nodes
            .iter()
            .enumerate()
            .map(|(at, node)| {
                let rank = node_rank[at];
                Rect {
                    x: column_left[rank],
                    y: anchors[at] - node.height / 2.0,
                    width: column_width[rank],
                    height: node.height,
                }
            })
            .collect();

        let column_right = |rank: usize| column_left[rank] + column_width[rank];
        let mut geometries = Vec::with_capacity(graph.edges.len());
        for (at, edge) in graph.edges.iter().enumerate() {
            if edge.from == edge.to {
                geometries.push(self_loop(&boxes[edge.from], edge));
                continue;
            }
            let chain = &chains[at];
            let mut segments = Vec::new();
            let mut label = None;
            let first = chain[0];
            let start_y = ports.y(at, first, &anchors);
            let mut point = Point {
                x: side_x(&graph.nodes[first], &boxes[first], start_y, Side::Right),
                y: start_y,
            };
            let rank = items[first].rank;
            let column_end = Point {
                x: column_right(rank),
                y: start_y,
            };
            push_line(&mut segments, point, column_end);
            point = column_end;
            for &item in &chain[1..] {
                let rank = items[item].rank;
                let y = ports.y(at, item, &anchors);
                let entry = Point {
                    x: column_left[rank],
                    y,
                };
                let reach = (entry.x - point.x) / 2.0;
                segments.push([
                    point,
                    Point {
                        x: point.x + reach,
                        y: point.y,
                    },
                    Point {
                        x: entry.x - reach,
                        y: entry.y,
                    },
                    entry,
                ]);
                match items[item].slot {
                    Slot::Node(node) => {
                        let end = Point {
                            x: side_x(&graph.nodes[node], &boxes[node], y, Side::Left),
                            y,
                        };
                        push_line(&mut segments, entry, end);
                    }
                    Slot::Edge {
                        label: is_label, ..
                    } => {
                        let exit = Point {
                            x: column_right(rank),
                            y,
                        };
                        push_line(&mut segments, entry, exit);
                        point = exit;
                        if is_label {
                            label = Some(Rect {
                                x: column_left[rank]
                                    + (column_width[rank] - edge.label_width) / 2.0,
                                y: y - LABEL_HEIGHT / 2.0,
                                width: edge.label_width,
                                height: LABEL_HEIGHT,
                            });
                        }
                    }
                }
            }
            if layers.reversed[at] {
                segments.reverse();
                for segment in &mut segments {
                    segment.reverse();
                }
            }
            let label = label.unwrap_or_else(|| {
                // Every edge between different nodes crosses a label column; keep a place anyway.
                let middle = segments.first().map_or(point, |segment| segment[3]);
                Rect {
                    x: middle.x - edge.label_width / 2.0,
                    y: middle.y - LABEL_HEIGHT / 2.0,
                    width: edge.label_width,
                    height: LABEL_HEIGHT,
                }
            });
            geometries.push(EdgeGeometry { segments, label });
        }

        let right = (0..ranks).map(column_right).fold(MARGIN, f64::max);
        let bottom = items
            .iter()
            .enumerate()
            .map(|(at, item)| anchors[at] + item.down)
            .fold(top, f64::max);
        Self {
            boxes,
            edges: geometries,
            right,
            bottom,
        }
    }
}

fn push_line(segments: &mut Vec<Segment>, from: Point, to: Point) {
    if (to.x - from.x).abs() > 0.05 || (to.y - from.y).abs() > 0.05 {
        segments.push([from, from, to, to]);
    }
}

/// A function that invokes itself: a loop above its card with the label on its top.
fn self_loop(card: &Rect, edge: &Edge) -> EdgeGeometry {
    let center = card.x + card.width / 2.0;
    let half = (edge.label_width / 2.0 + 10.0).min(card.width / 2.0 - 12.0);
    let top = card.y;
    let start = Point {
        x: center + half,
        y: top,
    };
    let end = Point {
        x: center - half,
        y: top,
    };
    let segment = [
        start,
        Point {
            x: start.x,
            y: top - LOOP_RISE,
        },
        Point {
            x: end.x,
            y: top - LOOP_RISE,
        },
        end,
    ];
    // The apex of the loop is at 3/4 of its control points' rise.
    let apex = top - LOOP_RISE * 0.75;
    EdgeGeometry {
        segments: vec![segment],
        label: Rect {
            x: center - edge.label_width / 2.0,
            y: apex - LABEL_HEIGHT / 2.0,
            width: edge.label_width,
            height: LABEL_HEIGHT,
        },
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Side {
    Left,
    Right,
}

/// The x of a node's left or right outline at height `y`.
fn side_x(node: &Node, shape: &Rect, y: f64, side: Side) -> f64 {
    let inset = match node.kind {
        ResourceKind::Sagemaker => {
            let half = shape.height / 2.0;
            HEXAGON_SLANT * ((y - shape.center().y).abs() / half).min(1.0)
        }
        _ => 0.0,
    };
    match side {
        Side::Left => shape.x + inset,
        Side::Right => shape.x + shape.width - inset,
    }
}

/// The layer of each node and which function-to-function edges point backwards (in a cycle).
#[derive(Debug)]
struct Layers {
    layer: Vec<usize>,
    reversed: Vec<bool>,
}

/// Layer 0: functions nobody invokes; then the functions they invoke (longest path); last: the
/// resources. Cycles of invocations are broken by a depth-first search from the functions nobody
/// invokes: its back edges are drawn reversed.
fn layers(graph: &Graph) -> Layers {
    let functions = graph.functions;
    let mut invokes: Vec<Vec<(usize, usize)>> = vec![Vec::new(); functions];
    let mut invoked = vec![false; functions];
    for (at, edge) in graph.edges.iter().enumerate() {
        if edge.to < functions && edge.from != edge.to {
            invokes[edge.from].push((at, edge.to));
            invoked[edge.to] = true;
        }
    }
    let mut reversed = vec![false; graph.edges.len()];
    let mut state = vec![Visit::New; functions];
    let roots = (0..functions)
        .filter(|&function| !invoked[function])
        .chain((0..functions).filter(|&function| invoked[function]));
    for root in roots {
        if state[root] == Visit::New {
            depth_first(root, &invokes, &mut state, &mut reversed);
        }
    }
    // Longest path over the edges made acyclic; relaxing `functions` times reaches a fixpoint.
    let mut layer = vec![0; graph.nodes.len()];
    for _ in 0..functions {
        let mut changed = false;
        for (at, edge) in graph.edges.iter().enumerate() {
            if edge.to >= functions || edge.from == edge.to {
                continue;
            }
            let (low, high) = if reversed[at] {
                (edge.to, edge.from)
            } else {
                (edge.from, edge.to)
            };
            if layer[high] < layer[low] + 1 {
                layer[high] = layer[low] + 1;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let resource_layer = layer[..functions]
        .iter()
        .map(|layer| layer + 1)
        .max()
        .unwrap_or(0);
    for layer in &mut layer[functions..] {
        *layer = resource_layer;
    }
    Layers { layer, reversed }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Visit {
    New,
    OnPath,
    Done,
}

fn depth_first(
    function: usize,
    invokes: &[Vec<(usize, usize)>],
    state: &mut [Visit],
    reversed: &mut [bool],
) {
    state[function] = Visit::OnPath;
    for &(edge, callee) in &invokes[function] {
        match state[callee] {
            Visit::New => depth_first(callee, invokes, state, reversed),
            Visit::OnPath => reversed[edge] = true,
            Visit::Done => {}
        }
    }
    state[function] = Visit::Done;
}

/// The order of the items in each column: barycenter sweeps, keeping the order with the fewest
/// crossings.
fn order_columns(
    items: &[Item],
    ranks: usize,
    predecessors: &[Vec<usize>],
    successors: &[Vec<usize>],
) -> Vec<Vec<usize>> {
    let mut order: Vec<Vec<usize>> = vec![Vec::new(); ranks];
    for (at, item) in items.iter().enumerate() {
        order[item.rank].push(at);
    }
    let mut position = vec![0.0; items.len()];
    let renumber = |order: &[Vec<usize>], position: &mut [f64]| {
        for column in order {
            for (index, &item) in column.iter().enumerate() {
                position[item] = index as f64;
            }
        }
    };
    renumber(&order, &mut position);
    let sweep = |order: &mut Vec<Vec<usize>>,
                 position: &mut [f64],
                 neighbours: &[Vec<usize>],
                 ranks: &mut dyn Iterator<Item = usize>| {
        for rank in ranks {
            let key = |item: usize| -> f64 {
                let around = &neighbours[item];
                if predecessors[item].is_empty() && successors[item].is_empty() {
                    // Nodes without edges go to the bottom, out of the others' way.
                    f64::MAX
                } else if around.is_empty() {
                    position[item]
                } else {
                    around.iter().map(|&other| position[other]).sum::<f64>() / around.len() as f64
                }
            };
            let mut keyed: Vec<(f64, f64, usize)> = order[rank]
                .iter()
                .map(|&item| (key(item), position[item], item))
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
            order[rank] = keyed.into_iter().map(|(_, _, item)| item).collect();
            for (index, &item) in order[rank].iter().enumerate() {
                position[item] = index as f64;
            }
        }
    };
    sweep(&mut order, &mut position, predecessors, &mut (1..ranks));
    let mut best = order.clone();
    let mut fewest = crossings(&order, successors, &position);
    for round in 0..ORDER_SWEEPS {
        if fewest == 0 {
            break;
        }
        if round % 2 == 0 {
            sweep(
                &mut order,
                &mut position,
                successors,
                &mut (0..ranks.saturating_sub(1)).rev(),
            );
        } else {
            sweep(&mut order, &mut position, predecessors, &mut (1..ranks));
        }
        let count = crossings(&order, successors, &position);
        if count < fewest {
            fewest = count;
            best = order.clone();
        }
    }
    best
}

/// Pairs of segments between adjacent columns that cross.
fn crossings(order: &[Vec<usize>], successors: &[Vec<usize>], position: &[f64]) -> usize {
    let mut count = 0;
    for column in order {
        let segments: Vec<(f64, f64)> = column
            .iter()
            .flat_map(|&item| {
                successors[item]
                    .iter()
                    .map(move |&next| (position[item], position[next]))
            })
            .collect();
        for (index, a) in segments.iter().enumerate() {
            for b in &segments[index + 1..] {
                if (a.0 - b.0) * (a.1 - b.1) < 0.0 {
                    count += 1;
                }
            }
        }
    }
    count
}

/// The anchor y of each item: each column stacked, then moved towards the average of its
/// neighbours' anchors, sweep after sweep, keeping the order and the gaps.
fn place_vertically(
    items: &[Item],
    order: &[Vec<usize>],
    predecessors: &[Vec<usize>],
    successors: &[Vec<usize>],
    top: f64,
) -> Vec<f64> {
    let mut anchor = vec![0.0; items.len()];
    for column in order {
        let mut y = 0.0;
        for (index, &item) in column.iter().enumerate() {
            if index > 0 {
                y += items[column[index - 1]].down + gap(items, column[index - 1], item);
            }
            y += items[item].up;
            anchor[item] = y;
        }
        let height = column
            .last()
            .map_or(0.0, |&last| anchor[last] + items[last].down);
        for &item in column {
            anchor[item] -= height / 2.0;
        }
    }
    let average = |anchor: &[f64], neighbours: &[&[Vec<usize>]], item: usize| -> f64 {
        let around: Vec<usize> = neighbours
            .iter()
            .flat_map(|list| list[item].iter().copied())
            .collect();
        if around.is_empty() {
            anchor[item]
        } else {
            around.iter().map(|&other| anchor[other]).sum::<f64>() / around.len() as f64
        }
    };
    let ranks = order.len();
    for _ in 0..PLACE_SWEEPS {
        for column in order.iter().skip(1) {
            let desired: Vec<f64> = column
                .iter()
                .map(|&item| average(&anchor, &[predecessors], item))
                .collect();
            place_column(items, column, &desired, &mut anchor);
        }
        for column in order.iter().take(ranks.saturating_sub(1)).rev() {
            let desired: Vec<f64> = column
                .iter()
                .map(|&item| average(&anchor, &[successors], item))
                .collect();
            place_column(items, column, &desired, &mut anchor);
        }
    }
    for column in order {
        let desired: Vec<f64> = column
            .iter()
            .map(|&item| average(&anchor, &[predecessors, successors], item))
            .collect();
        place_column(items, column, &desired, &mut anchor);
    }
    let highest = items
        .iter()
        .enumerate()
        .map(|(at, item)| anchor[at] - item.up)
        .fold(f64::INFINITY, f64::min);
    if highest.is_finite() {
        for y in &mut anchor {
            *y += top - highest;
        }
    }
    anchor
}

/// Puts every point an edge passes a column at on the height of its label when the columns
/// have room there, so a long edge bends once into its label's height instead of at every column.
fn straighten(items: &[Item], order: &[Vec<usize>], chains: &[Vec<usize>], anchor: &mut [f64]) {
    let mut index = vec![0; items.len()];
    for column in order {
        for (at, &item) in column.iter().enumerate() {
            index[item] = at;
        }
    }
    for chain in chains {
        let passes: Vec<usize> = chain
            .iter()
            .copied()
            .filter(|&item| matches!(items[item].slot, Slot::Edge { label: false }))
            .collect();
        let Some(&label) = chain
            .iter()
            .find(|&&item| matches!(items[item].slot, Slot::Edge { label: true }))
        else {
            continue;
        };
        let height = anchor[label];
        let fits = |item: usize| {
            let column = &order[items[item].rank];
            let at = index[item];
            let above = at.checked_sub(1).map(|above| column[above]);
            let below = column.get(at + 1).copied();
            above.is_none_or(|above| {
                anchor[above] + items[above].down + gap(items, above, item) + items[item].up
                    <= height
            }) && below.is_none_or(|below| {
                height + items[item].down + gap(items, item, below) + items[below].up
                    <= anchor[below]
            })
        };
        if passes.iter().all(|&item| fits(item)) {
            for item in passes {
                anchor[item] = height;
            }
        }
    }
}

/// Vertical space between two neighbours of a column.
fn gap(items: &[Item], above: usize, below: usize) -> f64 {
    match (items[above].slot, items[below].slot) {
        (Slot::Node(_), Slot::Node(_)) => NODE_GAP,
        (Slot::Node(_), _) | (_, Slot::Node(_)) => NODE_EDGE_GAP,
        _ => EDGE_GAP,
    }
}

/// Places a column's items as close to their desired anchors as their order and gaps allow
/// (least squares; pool-adjacent-violators on the anchors minus their minimal offsets).
fn place_column(items: &[Item], column: &[usize], desired: &[f64], anchor: &mut [f64]) {
    let mut offset = Vec::with_capacity(column.len());
    let mut total = 0.0;
    for (index, &item) in column.iter().enumerate() {
        if index > 0 {
            let above = column[index - 1];
            total += items[above].down + gap(items, above, item) + items[item].up;
        }
        offset.push(total);
    }
    // Blocks of (sum, count) whose means increase.
    let mut blocks: Vec<(f64, f64, usize)> = Vec::new();
    for (index, wanted) in desired.iter().enumerate() {
        blocks.push((wanted - offset[index], 1.0, 1));
        while blocks.len() > 1 {
            let last = blocks[blocks.len() - 1];
            let before = blocks[blocks.len() - 2];
            if before.0 / before.1 <= last.0 / last.1 {
                break;
            }
            blocks.pop();
            let merged = blocks.len() - 1;
            blocks[merged] = (before.0 + last.0, before.1 + last.1, before.2 + last.2);
        }
    }
    let mut index = 0;
    for (sum, count, length) in blocks {
        for _ in 0..length {
            anchor[column[index]] = sum / count + offset[index];
            index += 1;
        }
    }
}

/// Where each edge attaches to the sides of its nodes: spread over the side, in the order of
/// the edges' other ends, so edges do not cross at a node.
#[derive(Debug)]
struct Ports {
    /// (edge, node) -> y.
    at: HashMap<(usize, usize), f64>,
}

impl Ports {
    /// Where an edge meets an item: its port on a node, the item's anchor otherwise.
    fn y(&self, edge: usize, item: usize, anchors: &[f64]) -> f64 {
        self.at.get(&(edge, item)).copied().unwrap_or(anchors[item])
    }
}

fn ports(graph: &Graph, chains: &[Vec<usize>], anchors: &[f64]) -> Ports {
    // node -> side -> (other end's anchor, edge)
    let mut sides: BTreeMap<(usize, bool), Vec<(f64, usize)>> = BTreeMap::new();
    for (edge, chain) in chains.iter().enumerate() {
        if chain.len() < 2 {
            continue;
        }
        let (first, last) = (chain[0], chain[chain.len() - 1]);
        sides
            .entry((first, true))
            .or_default()
            .push((anchors[chain[1]], edge));
        sides
            .entry((last, false))
            .or_default()
            .push((anchors[chain[chain.len() - 2]], edge));
    }
    let mut at = HashMap::new();
    for ((node, _), mut ends) in sides {
        ends.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        let count = ends.len();
        let usable = graph.nodes[node].height - 24.0;
        let spacing = if count > 1 {
            PORT_SPACING.min(usable / (count - 1) as f64)
        } else {
            0.0
        };
        for (index, (_, edge)) in ends.into_iter().enumerate() {
            let y = anchors[node] + (index as f64 - (count - 1) as f64 / 2.0) * spacing;
            at.insert((edge, node), y);
        }
    }
    Ports { at }
}

// --- Drawing ----------------------------------------------------------------------------------

const STYLE: &str = r#"
.pluto-architecture { font-family: ui-sans-serif, system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
.pluto-architecture .background { fill: #ffffff; }
.pluto-architecture .title { font-size: 18px; font-weight: 700; fill: #0f172a; }
.pluto-architecture .subtitle { font-size: 12px; fill: #64748b; }
.pluto-architecture .caption { font-size: 10px; font-weight: 600; letter-spacing: 0.08em; fill: #64748b; }
.pluto-architecture .name { font-size: 14px; font-weight: 700; fill: #0f172a; }
.pluto-architecture .handler { font-size: 12px; font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; fill: #475569; }
.pluto-architecture .meta { font-size: 11px; fill: #64748b; }
.pluto-architecture .centered { text-anchor: middle; }
.pluto-architecture g.node { cursor: pointer; }
.pluto-architecture .shadow { fill: #e2e8f0; }
.pluto-architecture .shape { stroke-width: 1.25; }
.pluto-architecture g.node[data-kind="function"] .shape { fill: #ffffff; stroke: #94a3b8; }
.pluto-architecture g.node[data-kind="kv_store"] .shape { fill: #eff6ff; stroke: #60a5fa; }
.pluto-architecture g.node[data-kind="sagemaker"] .shape { fill: #f5f3ff; stroke: #a78bfa; }
.pluto-architecture g.node[data-kind="bucket"] .shape { fill: #ecfdf5; stroke: #34d399; }
.pluto-architecture g.node[data-kind="secret"] .shape { fill: #fff7ed; stroke: #fb923c; }
.pluto-architecture g.node:hover .shape { stroke-width: 2; }
.pluto-architecture g.node.selected .shape { stroke: #2563eb; stroke-width: 2.5; }
.pluto-architecture .hit { fill: transparent; stroke: none; pointer-events: all; }
.pluto-architecture .badge text { font-size: 11px; font-weight: 600; }
.pluto-architecture .badge-public rect { fill: #fff7ed; stroke: #fdba74; }
.pluto-architecture .badge-public text { fill: #c2410c; }
.pluto-architecture .badge-iam rect { fill: #ecfdf5; stroke: #6ee7b7; }
.pluto-architecture .badge-iam text { fill: #047857; }
.pluto-architecture .badge-none rect { fill: #f1f5f9; stroke: #cbd5e1; }
.pluto-architecture .badge-none text { fill: #475569; }
.pluto-architecture .badge-streams rect { fill: #eef2ff; stroke: #a5b4fc; }
.pluto-architecture .badge-streams text { fill: #4338ca; }
.pluto-architecture g.edge .line { fill: none; stroke: #64748b; stroke-width: 1.4; }
.pluto-architecture g.edge[data-to^="function:"] .line { stroke-dasharray: 6 4; }
.pluto-architecture g.edge .label rect { fill: #ffffff; stroke: #cbd5e1; }
.pluto-architecture g.edge .label text { font-size: 12px; fill: #334155; }
.pluto-architecture g.edge.highlight .line { stroke: #2563eb; stroke-width: 2.2; marker-end: url(#pluto-arrow-highlight); }
.pluto-architecture g.edge.highlight .label rect { stroke: #2563eb; }
.pluto-architecture .dimmed { opacity: 0.3; }
.pluto-architecture .legend .description { font-size: 12px; fill: #475569; }
.pluto-architecture .legend .rule { fill: none; stroke: #e2e8f0; }
.pluto-architecture .legend .line { fill: none; stroke: #64748b; stroke-width: 1.4; }
.pluto-architecture .legend .invoke { stroke-dasharray: 6 4; }
"#;

/// Text as XML character data or attribute value.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(character),
        }
    }
    out
}

/// A coordinate with at most one decimal.
fn number(value: f64) -> String {
    let rounded = (value * 10.0).round() / 10.0;
    if rounded == 0.0 {
        "0".to_owned()
    } else if rounded.fract() == 0.0 {
        format!("{rounded:.0}")
    } else {
        format!("{rounded:.1}")
    }
}

fn point(point: Point) -> String {
    format!("{},{}", number(point.x), number(point.y))
}

fn path_data(segments: &[Segment]) -> String {
    let mut data = String::new();
    if let Some(first) = segments.first() {
        data.push_str(&format!("M{}", point(first[0])));
    }
    for [start, control1, control2, end] in segments {
        if control1 == start && control2 == end {
            let _ = write!(data, " L{}", point(*end));
        } else {
            let _ = write!(
                data,
                " C{} {} {}",
                point(*control1),
                point(*control2),
                point(*end)
            );
        }
    }
    data
}

/// ` class="…"`, or nothing for no class.
fn class_attribute(class: &str) -> String {
    if class.is_empty() {
        String::new()
    } else {
        format!(" class=\"{class}\"")
    }
}

fn rect(out: &mut String, class: &str, shape: &Rect, radius: f64) {
    let _ = writeln!(
        out,
        r#"<rect{} x="{}" y="{}" width="{}" height="{}" rx="{}"/>"#,
        class_attribute(class),
        number(shape.x),
        number(shape.y),
        number(shape.width),
        number(shape.height),
        number(radius)
    );
}

fn text(out: &mut String, class: &str, x: f64, y: f64, content: &str) {
    let _ = writeln!(
        out,
        r#"<text{} x="{}" y="{}">{}</text>"#,
        class_attribute(class),
        number(x),
        number(y),
        escape(content)
    );
}

/// A pill with its text; returns its width.
fn badge(out: &mut String, class: &str, x: f64, top: f64, content: &str) -> f64 {
    let width = badge_width(content);
    let _ = writeln!(out, r#"<g class="badge {class}">"#);
    rect(
        out,
        "pill",
        &Rect {
            x,
            y: top,
            width,
            height: BADGE_HEIGHT,
        },
        BADGE_HEIGHT / 2.0,
    );
    text(out, "", x + BADGE_PADDING, top + 12.5, content);
    out.push_str("</g>\n");
    width
}

fn draw(architecture: &Architecture, graph: &Graph, layout: &Layout) -> String {
    let mut body = String::new();
    let title = &architecture.project;
    let plural =
        |count: usize, word: &str| format!("{count} {word}{}", if count == 1 { "" } else { "s" });
    let subtitle = format!(
        "architecture · {} · {}",
        plural(graph.functions, "function"),
        plural(graph.nodes.len() - graph.functions, "resource")
    );
    text(&mut body, "title", MARGIN, MARGIN + 16.0, title);
    text(&mut body, "subtitle", MARGIN, MARGIN + 38.0, &subtitle);

    body.push_str("<g class=\"edges\">\n");
    for (edge, geometry) in graph.edges.iter().zip(&layout.edges) {
        let from = &graph.nodes[edge.from];
        let to = &graph.nodes[edge.to];
        let _ = writeln!(
            body,
            r#"<g class="edge" data-from="{}" data-to="{}:{}">"#,
            escape(&from.name),
            to.kind_keyword(),
            escape(&to.name)
        );
        let _ = writeln!(
            body,
            "<title>{} → {} {}: {}</title>",
            escape(&from.name),
            to.kind,
            escape(&to.name),
            escape(&edge.label)
        );
        let _ = writeln!(
            body,
            r#"<path class="line" d="{}" marker-end="url(#pluto-arrow)"/>"#,
            path_data(&geometry.segments)
        );
        body.push_str("<g class=\"label\">\n");
        rect(&mut body, "", &geometry.label, 6.0);
        let center = geometry.label.center();
        text(&mut body, "centered", center.x, center.y + 4.0, &edge.label);
        body.push_str("</g>\n</g>\n");
    }
    body.push_str("</g>\n<g class=\"nodes\">\n");
    for (node, shape) in graph.nodes.iter().zip(&layout.boxes) {
        draw_node(&mut body, node, shape);
    }
    body.push_str("</g>\n");

    let legend_top = layout.bottom + 28.0;
    let content_width = (layout.right - MARGIN)
        .max(Font::Title.width(title))
        .max(Font::Subtitle.width(&subtitle))
        .max(480.0);
    let legend_bottom = draw_legend(&mut body, legend_top, content_width);
    let width = (MARGIN + content_width + MARGIN).ceil();
    let height = (legend_bottom + MARGIN).ceil();

    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" class="pluto-architecture" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-labelledby="pluto-architecture-title">"#,
        w = number(width),
        h = number(height)
    );
    let _ = writeln!(
        out,
        r#"<title id="pluto-architecture-title">{} architecture</title>"#,
        escape(title)
    );
    let _ = writeln!(out, "<style>{STYLE}</style>");
    out.push_str(concat!(
        "<defs>\n",
        r##"<marker id="pluto-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="9" markerHeight="9" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,1 L10,5 L0,9 z" fill="#64748b"/></marker>"##,
        "\n",
        r##"<marker id="pluto-arrow-highlight" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="10" markerHeight="10" markerUnits="userSpaceOnUse" orient="auto"><path d="M0,1 L10,5 L0,9 z" fill="#2563eb"/></marker>"##,
        "\n</defs>\n",
    ));
    rect(
        &mut out,
        "background",
        &Rect {
            x: 0.0,
            y: 0.0,
            width,
            height,
        },
        0.0,
    );
    out.push_str(&body);
    out.push_str("</svg>\n");
    out
}

fn draw_node(out: &mut String, node: &Node, shape: &Rect) {
    let _ = writeln!(
        out,
        r#"<g class="node" data-kind="{kind}" data-name="{name}" id="node-{kind}-{name}">"#,
        kind = node.kind_keyword(),
        name = escape(&node.name)
    );
    let _ = writeln!(out, "<title>{}</title>", escape(&node.tooltip));
    let center = shape.center().x;
    match &node.body {
        Body::Function {
            handler,
            auth,
            streams,
            meta,
        } => {
            let rows = CardRows::new(handler.is_some());
            let shadow = Rect {
                y: shape.y + 2.0,
                ..*shape
            };
            rect(out, "shadow", &shadow, 10.0);
            rect(out, "shape", shape, 10.0);
            let left = shape.x + CARD_PADDING;
            text(out, "caption", left, shape.y + rows.caption, "FUNCTION");
            text(out, "name", left, shape.y + rows.name, &node.name);
            if let (Some(handler), Some(row)) = (handler, rows.handler) {
                text(out, "handler", left, shape.y + row, handler);
            }
            let (class, label) = url_badge(*auth);
            let mut x = left;
            x += badge(out, class, x, shape.y + rows.badges_top, label) + BADGE_GAP;
            if *streams {
                badge(
                    out,
                    "badge-streams",
                    x,
                    shape.y + rows.badges_top,
                    "streams",
                );
            }
            text(out, "meta", left, shape.y + rows.meta, meta);
        }
        Body::KvStore => {
            let (x, y, width, height) = (shape.x, shape.y, shape.width, shape.height);
            let radius_x = width / 2.0;
            let _ = writeln!(
                out,
                r#"<path class="shape" d="M{} V{} A{} {} 0 0 0 {} V{} A{} {} 0 0 0 {} Z"/>"#,
                point(Point {
                    x,
                    y: y + CYLINDER_RY
                }),
                number(y + height - CYLINDER_RY),
                number(radius_x),
                number(CYLINDER_RY),
                point(Point {
                    x: x + width,
                    y: y + height - CYLINDER_RY
                }),
                number(y + CYLINDER_RY),
                number(radius_x),
                number(CYLINDER_RY),
                point(Point {
                    x,
                    y: y + CYLINDER_RY
                }),
            );
            let _ = writeln!(
                out,
                r#"<ellipse class="shape" cx="{}" cy="{}" rx="{}" ry="{}"/>"#,
                number(center),
                number(y + CYLINDER_RY),
                number(radius_x),
                number(CYLINDER_RY)
            );
            text(out, "caption centered", center, y + KV_CAPTION, "KV STORE");
            text(out, "name centered", center, y + KV_NAME, &node.name);
        }
        Body::Sagemaker { hosting } => {
            let (x, y, width, height) = (shape.x, shape.y, shape.width, shape.height);
            let corners = [
                (x + HEXAGON_SLANT, y),
                (x + width - HEXAGON_SLANT, y),
                (x + width, y + height / 2.0),
                (x + width - HEXAGON_SLANT, y + height),
                (x + HEXAGON_SLANT, y + height),
                (x, y + height / 2.0),
            ];
            let points: Vec<String> = corners
                .iter()
                .map(|&(x, y)| point(Point { x, y }))
                .collect();
            let _ = writeln!(
                out,
                r#"<polygon class="shape" points="{}"/>"#,
                points.join(" ")
            );
            text(
                out,
                "caption centered",
                center,
                y + RESOURCE_CAPTION,
                kind_caption(node.kind),
            );
            text(out, "name centered", center, y + RESOURCE_NAME, &node.name);
            text(out, "meta centered", center, y + RESOURCE_META, hosting);
        }
        Body::Store { detail } => {
            rect(out, "shape", shape, 4.0);
            let y = shape.y;
            text(
                out,
                "caption centered",
                center,
                y + RESOURCE_CAPTION,
                kind_caption(node.kind),
            );
            text(out, "name centered", center, y + RESOURCE_NAME, &node.name);
            text(out, "meta centered", center, y + RESOURCE_META, detail);
        }
    }
    rect(out, "hit", shape, 0.0);
    out.push_str("</g>\n");
}

/// What the legend explains: a badge or an edge style, and its meaning.
#[derive(Debug, Clone, Copy)]
enum Mark {
    /// A badge: its class and text.
    Badge(&'static str, &'static str),
    /// An edge: the class of its line.
    Line(&'static str),
}

const LEGEND: [(Mark, &str); 6] = [
    (
        Mark::Badge("badge-public", "public URL"),
        "anyone may call it",
    ),
    (Mark::Badge("badge-iam", "IAM URL"), "signed requests only"),
    (Mark::Badge("badge-none", "no URL"), "no Function URL"),
    (
        Mark::Badge("badge-streams", "streams"),
        "answers chunk by chunk",
    ),
    (Mark::Line("line"), "operations performed"),
    (Mark::Line("line invoke"), "invokes a function"),
];

/// The legend as a grid no wider than `width` (at least one column), under a thin rule; returns
/// its bottom.
fn draw_legend(out: &mut String, top: f64, width: f64) -> f64 {
    const LINE: f64 = 28.0;
    const ROW: f64 = 26.0;
    const COLUMN_GAP: f64 = 24.0;
    let mark_width = |mark: Mark| match mark {
        Mark::Badge(_, label) => badge_width(label),
        Mark::Line(_) => LINE,
    };
    let marks = LEGEND
        .iter()
        .map(|&(mark, _)| mark_width(mark))
        .fold(0.0, f64::max);
    let descriptions = LEGEND
        .iter()
        .map(|(_, description)| Font::Label.width(description))
        .fold(0.0, f64::max);
    let cell = marks + 8.0 + descriptions;
    let columns = (((width + COLUMN_GAP) / (cell + COLUMN_GAP)).floor() as usize).max(1);
    out.push_str("<g class=\"legend\">\n");
    let _ = writeln!(
        out,
        r#"<path class="rule" d="M{} L{}"/>"#,
        point(Point { x: MARGIN, y: top }),
        point(Point {
            x: MARGIN + width,
            y: top
        })
    );
    let first_row = top + 16.0;
    let mut bottom = first_row;
    for (index, (mark, description)) in LEGEND.into_iter().enumerate() {
        let x = MARGIN + (index % columns) as f64 * (cell + COLUMN_GAP);
        let y = first_row + (index / columns) as f64 * ROW;
        match mark {
            Mark::Badge(class, label) => {
                badge(out, class, x, y, label);
            }
            Mark::Line(class) => {
                let middle = y + BADGE_HEIGHT / 2.0;
                let _ = writeln!(
                    out,
                    r#"<path class="{class}" d="M{} L{}" marker-end="url(#pluto-arrow)"/>"#,
                    point(Point { x, y: middle }),
                    point(Point {
                        x: x + LINE,
                        y: middle
                    }),
                );
            }
        }
        text(out, "description", x + marks + 8.0, y + 13.0, description);
        bottom = y + BADGE_HEIGHT;
    }
    out.push_str("</g>\n");
    bottom
}
