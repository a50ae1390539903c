//! A flow drawn left to right: each node in the layer one past the furthest node that leads to it
//! (the trigger first), the nodes of a layer ordered so that edges cross little (barycenter
//! sweeps), and an edge that spans layers routed through a free slot in each layer between.
//! Boxes and edge polylines come out in pixels, the same for the same plan: what the web UI
//! draws, computed where the graph is.

use serde::Serialize;

use crate::plan::Plan;

/// The size of a node's box, and the space between layers and between rows.
pub const NODE_WIDTH: u32 = 180;
pub const NODE_HEIGHT: u32 = 56;
const LAYER_GAP: u32 = 80;
const ROW_GAP: u32 = 32;
const MARGIN: u32 = 24;
/// How many times the order of the layers is refined, down and up.
const SWEEPS: usize = 4;

/// A flow's drawing.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Layout {
    pub width: u32,
    pub height: u32,
    /// In the order of the flow file.
    pub nodes: Vec<NodeBox>,
    pub edges: Vec<EdgePath>,
}

/// A node's box: its top-left corner and size.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeBox {
    pub id: String,
    #[serde(rename = "type")]
    pub type_name: &'static str,
    /// `trigger`, `step` or `respond`.
    pub role: &'static str,
    /// Its column, from 0 for the trigger.
    pub layer: usize,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// An edge: from the middle of its source's right side to the middle of its target's left side,
/// through the slots it was given in the layers between.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgePath {
    pub from: String,
    pub to: String,
    /// The branch output the edge leaves by, for a branching node.
    pub output: Option<String>,
    pub points: Vec<[u32; 2]>,
}

/// A slot of a layer: a node, or the passage of the edge numbered so through the layer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Node(usize),
    Passage(usize),
}

impl Plan {
    /// The plan drawn left to right (see the module).
    pub fn layout(&self) -> Layout {
        let n = self.nodes.len();
        let edges: Vec<(usize, Option<usize>, usize)> = (0..n)
            .flat_map(|from| self.next[from].iter().map(move |&(out, to)| (from, out, to)))
            .collect();
        let mut layer = vec![0usize; n];
        for &i in &self.order {
            for &(_, to) in &self.next[i] {
                layer[to] = layer[to].max(layer[i] + 1);
            }
        }
        let layers = layer.iter().max().map_or(0, |l| l + 1);
        let mut slots: Vec<Vec<Slot>> = vec![Vec::new(); layers];
        for &i in &self.order {
            slots[layer[i]].push(Slot::Node(i));
        }
        for (e, &(from, _, to)) in edges.iter().enumerate() {
            for passing in &mut slots[layer[from] + 1..layer[to]] {
                passing.push(Slot::Passage(e));
            }
        }
        order_layers(&mut slots, &edges, &layer);

        let rows = slots.iter().map(Vec::len).max().unwrap_or(0);
        let row = NODE_HEIGHT + ROW_GAP;
        let column = NODE_WIDTH + LAYER_GAP;
        let count = |len: usize| u32::try_from(len).unwrap_or(u32::MAX);
        let height = MARGIN * 2 + (count(rows) * row).saturating_sub(ROW_GAP);
        let width = MARGIN * 2 + (count(layers) * column).saturating_sub(LAYER_GAP);
        // The top-left corner of each slot: a layer with fewer slots is centred.
        let corner = |l: usize, p: usize| {
            let offset = (count(rows) - count(slots[l].len())) * row / 2;
            (MARGIN + count(l) * column, MARGIN + offset + count(p) * row)
        };
        let mut at = vec![(0, 0); n];
        let mut passages = vec![Vec::new(); edges.len()];
        for (l, layer_slots) in slots.iter().enumerate() {
            for (p, slot) in layer_slots.iter().enumerate() {
                match *slot {
                    Slot::Node(i) => at[i] = corner(l, p),
                    Slot::Passage(e) => passages[e].push(corner(l, p)),
                }
            }
        }
        let nodes = (0..n)
            .map(|i| {
                let node = &self.nodes[i];
                NodeBox {
                    id: node.id.clone(),
                    type_name: node.type_name,
                    role: node.role.as_str(),
                    layer: layer[i],
                    x: at[i].0,
                    y: at[i].1,
                    width: NODE_WIDTH,
                    height: NODE_HEIGHT,
                }
            })
            .collect();
        let middle = NODE_HEIGHT / 2;
        let edges = edges
            .iter()
            .zip(passages)
            .map(|(&(from, out, to), passages)| {
                let mut points = vec![[at[from].0 + NODE_WIDTH, at[from].1 + middle]];
                for (x, y) in passages {
                    points.push([x, y + middle]);
                    points.push([x + NODE_WIDTH, y + middle]);
                }
                points.push([at[to].0, at[to].1 + middle]);
                EdgePath {
                    from: self.nodes[from].id.clone(),
                    to: self.nodes[to].id.clone(),
                    output: out.map(|o| self.nodes[from].node.outputs()[o].clone()),
                    points,
                }
            })
            .collect();
        Layout { width, height, nodes, edges }
    }
}

/// Orders each layer by the mean position of what it connects to in the layer before (sweeping
/// down) or after (sweeping up); ties keep their order, so the result is deterministic.
fn order_layers(slots: &mut [Vec<Slot>], edges: &[(usize, Option<usize>, usize)], layer: &[usize]) {
    // The slot an edge occupies in layer `l`, if any: its source, its target or its passage.
    let slot_of = |l: usize, e: usize| {
        let (from, _, to) = edges[e];
        if layer[from] == l {
            Slot::Node(from)
        } else if layer[to] == l {
            Slot::Node(to)
        } else {
            Slot::Passage(e)
        }
    };
    // The edges at each node, found once.
    let mut incident = vec![Vec::new(); layer.len()];
    for (e, &(from, _, to)) in edges.iter().enumerate() {
        incident[from].push(e);
        incident[to].push(e);
    }
    for sweep in 0..SWEEPS {
        let down = sweep % 2 == 0;
        let order: Vec<usize> = if down {
            (1..slots.len()).collect()
        } else {
            (0..slots.len().saturating_sub(1)).rev().collect()
        };
        for l in order {
            let other = if down { l - 1 } else { l + 1 };
            let position = |slot: Slot| slots[other].iter().position(|s| *s == slot);
            let mut keyed: Vec<(f64, usize, Slot)> = slots[l]
                .iter()
                .enumerate()
                .map(|(p, &slot)| {
                    // Where the edges through the slot are in the other layer.
                    let at = |e: usize| position(slot_of(other, e));
                    let near: Vec<usize> = match slot {
                        Slot::Passage(e) => at(e).into_iter().collect(),
                        Slot::Node(i) => incident[i].iter().filter_map(|&e| at(e)).collect(),
                    };
                    #[allow(clippy::cast_precision_loss)] // positions are small
                    let key = if near.is_empty() {
                        p as f64
                    } else {
                        near.iter().sum::<usize>() as f64 / near.len() as f64
                    };
                    (key, p, slot)
                })
                .collect();
            keyed.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
            slots[l] = keyed.into_iter().map(|(_, _, slot)| slot).collect();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::compiler::{Source, compile};

    fn plan(text: &str) -> Plan {
        let compiled = compile(&Source { file: "f.json".into(), text: text.into() });
        compiled.plan.unwrap_or_else(|| panic!("{:?}", compiled.diagnostics))
    }

    fn overlap(a: &NodeBox, b: &NodeBox) -> bool {
        a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height
    }

    #[test]
    fn order_intake_reads_left_to_right_with_its_branch_outputs_on_the_edges() {
        let layout = plan(include_str!("../../../flows/order-intake.json")).layout();
        let layers: Vec<(&str, usize)> =
            layout.nodes.iter().map(|n| (n.id.as_str(), n.layer)).collect();
        assert_eq!(
            layers,
            [("incoming", 0), ("order", 1), ("size", 2), ("review", 3), ("accept", 3)]
        );
        let outputs: Vec<(&str, Option<&str>)> =
            layout.edges.iter().map(|e| (e.to.as_str(), e.output.as_deref())).collect();
        assert_eq!(
            outputs,
            [("order", None), ("size", None), ("review", Some("large")), ("accept", Some("small"))]
        );
        let review = &layout.nodes[3];
        let edge = &layout.edges[2];
        assert_eq!(edge.points.last(), Some(&[review.x, review.y + NODE_HEIGHT / 2]));
        assert_eq!(layout.nodes[0].role, "trigger");
        assert_eq!((layout.width, layout.height), (24 * 2 + 4 * 260 - 80, 24 * 2 + 2 * 88 - 32));
        assert_eq!(layout, plan(include_str!("../../../flows/order-intake.json")).layout());
    }

    #[test]
    fn a_long_edge_passes_through_free_slots_and_no_boxes_overlap() {
        // 50 nodes: a chain, and a shortcut from the trigger to the end.
        let text = include_str!("../../../tests/fixtures/fifty-nodes.json");
        let started = std::time::Instant::now();
        let layout = plan(text).layout();
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        assert_eq!(layout.nodes.len(), 50);
        assert_eq!(layout.nodes[49].layer, 49);
        let shortcut =
            layout.edges.iter().find(|e| e.from == "in" && e.to == "end").expect("the shortcut");
        assert_eq!(shortcut.points.len(), 2 + 2 * 48, "one passage per layer between");
        for (i, a) in layout.nodes.iter().enumerate() {
            for b in &layout.nodes[i + 1..] {
                assert!(!overlap(a, b), "{a:?} {b:?}");
            }
            assert!(a.x + a.width <= layout.width && a.y + a.height <= layout.height);
        }
        // The shortcut's passages are not where the chain's nodes are.
        for point in &shortcut.points[1..shortcut.points.len() - 1] {
            for node in &layout.nodes {
                let inside = point[0] > node.x
                    && point[0] < node.x + node.width
                    && point[1] > node.y
                    && point[1] < node.y + node.height;
                assert!(!inside, "{point:?} inside {node:?}");
            }
        }
    }
}
