// hookflow's web UI: plain ES modules over the admin API, signed in with a session cookie.
// Pages: sign-in, the flows list (#/flows), a flow drawn as a graph (#/flows/<id>), the
// executions list (#/executions?flow=&status=, refreshed while open) and one execution drawn on
// its flow's graph (#/executions/<id>), the test console (#/console/<flow>), and the outbound
// subscriptions (#/subscriptions), a subscription's deliveries (#/subscriptions/<id>) and one
// delivery with its attempts (#/deliveries/<id>).

const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");
const SVG = "http://www.w3.org/2000/svg";
const CSRF = { "x-hookflow-csrf": "1" };
/** The longest JSON text a panel shows before it offers the rest. */
const PREVIEW = 20000;
let refresher = null;

/** Calls the admin API; a 401 shows the sign-in page and rejects. */
async function api(path, options = {}) {
  const response = await fetch(path, { credentials: "same-origin", ...options });
  if (response.status === 401) {
    showSignIn();
    throw new Error("signed out");
  }
  const text = await response.text();
  const body = text ? JSON.parse(text) : null;
  if (!response.ok) throw new Error(body?.detail ?? `${response.status}`);
  return body;
}

/** An element with attributes and children (strings become text). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (value !== false && value !== null && value !== undefined) el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) el.append(child instanceof Node ? child : String(child));
  return el;
}

function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG, tag);
  for (const [key, value] of Object.entries(attrs)) el.setAttribute(key, value);
  for (const child of children.flat()) el.append(child instanceof Node ? child : String(child));
  return el;
}

/** The hash the page being drawn is for: a page whose route was left before it was ready is
 * not drawn over the one that replaced it. */
let drawing = null;

function show(...children) {
  if (drawing !== null && drawing !== location.hash) return;
  main.replaceChildren(...children);
}

function showSignIn(message = "") {
  signOut.hidden = true;
  const token = h("input", { type: "password", id: "token", autocomplete: "current-password", required: true });
  const error = h("p", { class: "error", role: "alert", id: "sign-in-error" }, message);
  const form = h("form", { class: "sign-in", onsubmit: async (event) => {
    event.preventDefault();
    const response = await fetch("/api/session", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ token: token.value }),
    });
    if (response.ok) {
      route();
    } else {
      const problem = await response.json().catch(() => ({}));
      error.textContent = problem.detail ?? `Sign-in failed (${response.status}).`;
      token.select();
    }
  } },
    h("label", { for: "token" }, "Admin token"), token,
    h("button", { type: "submit" }, "Sign in"), error);
  show(h("h1", {}, "Sign in"), form);
  token.focus();
}

async function showFlows() {
  const { items } = await api("/api/flows");
  signOut.hidden = false;
  const rows = items.map((flow) => h("tr", { "data-flow": flow.id },
    h("td", {}, flow.state === "rejected" ? flow.id : h("a", { href: `#/flows/${encodeURIComponent(flow.id)}` }, flow.id)),
    h("td", { class: `state-${flow.state}` }, flow.state),
    h("td", {}, h("code", {}, flow.version ?? "")),
    h("td", {}, (flow.routes ?? []).map((r) => h("div", {},
      h("code", {}, `${r.method} ${r.url}`), " ",
      h("button", { type: "button", "aria-label": `Copy ${r.url}`, onclick: () => navigator.clipboard?.writeText(r.url) }, "Copy")))),
    h("td", {}, flow.rejected ? h("span", { class: "error" }, rejectionText(flow.rejected)) : "")));
  show(h("h1", {}, "Flows"),
    h("table", {}, h("thead", {}, h("tr", {}, ["Flow", "State", "Version", "Routes", "Problems"].map((t) => h("th", {}, t)))),
      h("tbody", {}, rows)));
}

function rejectionText(rejected) {
  const first = rejected.diagnostics?.[0];
  return first ? `${first.code} ${first.message}` : "rejected";
}

async function showFlow(id) {
  const [flow, layout] = await Promise.all([
    api(`/api/flows/${encodeURIComponent(id)}`),
    api(`/api/flows/${encodeURIComponent(id)}/layout`),
  ]);
  signOut.hidden = false;
  const nodes = flow.document?.nodes ?? [];
  const panel = h("aside", { "aria-live": "polite" }, h("p", { class: "muted" }, "Select a node to see its configuration."));
  const source = h("textarea", { id: "flow-json", rows: 24, cols: 100, spellcheck: "false" });
  source.value = JSON.stringify(flow.document, null, 2);
  const problems = h("ul", { id: "diagnostics", "aria-live": "polite" });
  const saved = h("p", { id: "flow-saved", "aria-live": "polite" });
  let boxes = new Map();
  const draw = (drawn) => graph(drawn, (node) => {
    const index = currentNodes().findIndex((n) => n.id === node.id);
    const own = h("textarea", { id: "node-json", rows: 14, spellcheck: "false" });
    own.value = JSON.stringify(currentNodes()[index] ?? {}, null, 2);
    panel.replaceChildren(h("h2", {}, `${node.id}`), h("p", { class: "muted" }, `${node.type} · ${node.role}`),
      h("pre", { id: "node-config" }, JSON.stringify(currentNodes()[index] ?? {}, null, 2)),
      h("label", { for: "node-json" }, "Edit this node"), own,
      h("button", { type: "button", id: "apply-node", onclick: () => {
        try {
          const doc = JSON.parse(source.value);
          doc.nodes[index] = JSON.parse(own.value);
          source.value = JSON.stringify(doc, null, 2);
          check();
        } catch (error) {
          problems.replaceChildren(h("li", { class: "error" }, `Not JSON: ${error.message}`));
        }
      } }, "Apply to the flow"), " ",
      h("button", { type: "button", id: "remove-node", onclick: () => edit((doc) => {
        doc.nodes = (doc.nodes ?? []).filter((n) => n.id !== node.id);
        doc.edges = (doc.edges ?? []).filter((e) => e.from !== node.id && e.to !== node.id);
      }) }, "Remove this node and its edges"));
  }, (node, group) => boxes.set(node.id, group));
  const pane = h("div", { class: "graph" }, draw(layout));
  /** Draws the draft's layout in place of the graph (a draft that compiles). */
  function redraw(drawn) {
    boxes = new Map();
    pane.replaceChildren(draw(drawn));
  }
  /** Changes the draft with `change(doc)`, writes it back and checks it. */
  function edit(change) {
    let doc;
    try { doc = JSON.parse(source.value); } catch (error) {
      problems.replaceChildren(h("li", { class: "error" }, `Not JSON: ${error.message}`));
      return;
    }
    change(doc);
    source.value = JSON.stringify(doc, null, 2);
    edges.replaceChildren(...edgeRows(doc));
    check();
  }
  const edges = h("tbody", { id: "edges" });
  function edgeRows(doc) {
    return (doc.edges ?? []).map((e, i) => h("tr", { "data-edge": `${e.from}>${e.to}` },
      h("td", {}, e.from), h("td", {}, e.to), h("td", {}, e.output ?? ""),
      h("td", {}, h("button", { type: "button", class: "remove-edge", "aria-label": `Remove the edge from ${e.from} to ${e.to}`,
        onclick: () => edit((d) => { d.edges.splice(i, 1); }) }, "Remove"))));
  }
  edges.replaceChildren(...edgeRows(flow.document ?? {}));
  const input = (id, placeholder) => h("input", { id, placeholder, "aria-label": placeholder });
  const [newFrom, newTo, newOutput] = [input("edge-from", "from"), input("edge-to", "to"), input("edge-output", "output (for a branch)")];
  const addEdge = h("button", { type: "button", id: "add-edge", onclick: () => edit((d) => {
    const edge = { from: newFrom.value.trim(), to: newTo.value.trim() };
    if (newOutput.value.trim()) edge.output = newOutput.value.trim();
    (d.edges ??= []).push(edge);
  }) }, "Add the edge");
  const types = (await api("/api/node-types")).items ?? [];
  const newType = h("select", { id: "node-type", "aria-label": "node type" }, types.map((t) => h("option", { value: t.name }, t.name)));
  const newId = input("node-id", "new node id");
  const addNode = h("button", { type: "button", id: "add-node", onclick: () => edit((d) => {
    const type = types.find((t) => t.name === newType.value);
    (d.nodes ??= []).push({ ...(type?.example ?? {}), id: newId.value.trim(), type: newType.value });
  }) }, "Add the node");
  function currentNodes() {
    try { return JSON.parse(source.value).nodes ?? []; } catch { return nodes; }
  }
  /** Marks each node with an error of the draft, and lists every diagnostic. */
  function mark(diagnostics) {
    boxes.forEach((group) => group.classList.remove("invalid"));
    problems.replaceChildren(...diagnostics.map((d) => {
      const node = d.node ?? currentNodes()[Number((d.location?.pointer ?? "").split("/")[2])]?.id;
      if (node && d.severity === "error") boxes.get(node)?.classList.add("invalid");
      return h("li", { class: d.severity === "error" ? "error" : "muted", "data-node": node ?? "" },
        `${d.code} ${d.name}: ${d.message} (#${d.location?.pointer ?? ""}${node ? `, node ${node}` : ""}${d.location?.line ? `, line ${d.location.line}` : ""})`);
    }));
    if (diagnostics.length === 0) problems.replaceChildren(h("li", { class: "muted" }, "No problems."));
  }
  let pending = null;
  async function check() {
    const response = await fetch("/api/flows/validate", { method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", ...CSRF }, body: source.value });
    const doc = await response.json().catch(() => ({}));
    if (response.status === 401) return showSignIn();
    if (response.ok && doc.layout) redraw(doc.layout);
    mark(doc.diagnostics ?? (response.ok ? [] : [{ code: "", name: "invalid", message: doc.detail ?? `${response.status}`, severity: "error" }]));
  }
  source.addEventListener("input", () => { clearTimeout(pending); pending = setTimeout(check, 300); });
  const save = h("button", { type: "button", id: "save-flow", onclick: async () => {
    const response = await fetch(`/api/flows/${encodeURIComponent(flow.id)}`, { method: "PUT", credentials: "same-origin",
      headers: { "content-type": "application/json", ...CSRF }, body: source.value });
    const doc = await response.json().catch(() => ({}));
    if (response.ok) {
      const here = location.hash;
      await route();
      if (location.hash === here) {
        document.getElementById("flow-saved").textContent = `Saved: version ${doc.flow?.version ?? doc.version ?? ""}.`;
      }
    } else {
      saved.textContent = `Not saved: ${doc.detail ?? response.status}`;
      mark(doc.diagnostics ?? []);
    }
  } }, "Save");
  show(h("h1", {}, `${flow.name} `, h("span", { class: "muted" }, `(${flow.id}, ${flow.state}, version ${flow.version})`)),
    h("p", {}, h("a", { href: `#/console/${encodeURIComponent(flow.id)}`, id: "open-console" }, "Test console"), " · ",
      h("a", { href: `#/executions?flow=${encodeURIComponent(flow.id)}` }, "Executions")),
    h("div", { class: "flow" }, pane, panel),
    h("h2", {}, "Edit"),
    h("p", { class: "muted" }, "Every change is checked by the server's compiler; Save writes the flow file only when it compiles and deploys."),
    h("h3", {}, "Nodes and edges"),
    h("p", {}, newId, " ", newType, " ", addNode, h("span", { class: "muted" }, " (from the type's example; select a node on the graph to edit or remove it)")),
    h("table", {}, h("thead", {}, h("tr", {}, ["From", "To", "Output", ""].map((t) => h("th", {}, t)))), edges),
    h("p", {}, newFrom, " ", newTo, " ", newOutput, " ", addEdge),
    h("label", { for: "flow-json" }, "The flow file"), source, problems, h("p", {}, save), saved);
}

/** The layout drawn as SVG: boxes, edges with their branch outputs; `onSelect` on a node;
 * `decorate(node, group)` and `decorateEdge(edge, line)` may mark what ran. */
function graph(layout, onSelect, decorate = () => {}, decorateEdge = () => {}) {
  const root = svg("svg", { width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, role: "img", "aria-label": "flow graph" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#5d6778" }))));
  for (const edge of layout.edges) {
    const points = edge.points.map(([x, y]) => `${x},${y}`).join(" ");
    const line = svg("polyline", { class: "edge", points, "data-from": edge.from, "data-to": edge.to });
    decorateEdge(edge, line);
    root.append(line);
    if (edge.output) {
      const [x0, y0] = edge.points[0];
      const [x1, y1] = edge.points[1];
      root.append(svg("text", { class: "label", x: (x0 + x1) / 2 - 10, y: (y0 + y1) / 2 - 6 }, edge.output));
    }
  }
  const boxes = [];
  for (const node of layout.nodes) {
    const group = svg("g", { class: `node ${node.role}`, tabindex: 0, role: "button", "data-node": node.id, "aria-label": `${node.type} ${node.id}` },
      svg("rect", { x: node.x, y: node.y, width: node.width, height: node.height }),
      svg("text", { x: node.x + 10, y: node.y + 22 }, node.id),
      svg("text", { class: "kind", x: node.x + 10, y: node.y + 40 }, node.type));
    decorate(node, group);
    const select = () => {
      boxes.forEach((b) => b.classList.remove("selected"));
      group.classList.add("selected");
      onSelect(node);
    };
    group.addEventListener("click", select);
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") { event.preventDefault(); select(); }
    });
    boxes.push(group);
    root.append(group);
  }
  return root;
}

/** A duration in microseconds, never shown as a bare zero. */
function duration(us) {
  if (us === null || us === undefined) return "—";
  if (us < 1000) return `${Math.max(us, 1)} µs`;
  if (us < 1e6) return `${(us / 1000).toFixed(1)} ms`;
  return `${(us / 1e6).toFixed(2)} s`;
}

/** A JSON value for a panel: pretty, and cut at PREVIEW characters with a button for the rest. */
function json(value) {
  const text = JSON.stringify(value, null, 2) ?? "undefined";
  const pre = h("pre", {}, text.length > PREVIEW ? text.slice(0, PREVIEW) : text);
  if (text.length <= PREVIEW) return pre;
  const more = h("button", { type: "button", onclick: () => { pre.textContent = text; more.remove(); } },
    `Show all (${text.length - PREVIEW} more characters)`);
  return h("div", {}, pre, more);
}

async function showExecutions(query) {
  const flows = (await api("/api/flows")).items.map((f) => f.id);
  signOut.hidden = false;
  const choose = (id, values, current, label) => h("label", {}, `${label} `,
    h("select", { id, onchange: filter }, values.map((v) => h("option", { value: v, selected: v === current }, v || "all"))));
  const flowChoice = choose("filter-flow", ["", ...flows], query.get("flow") ?? "", "Flow");
  const statusChoice = choose("filter-status", ["", "succeeded", "failed", "rejected", "queued", "running"], query.get("status") ?? "", "Status");
  function filter() {
    const q = new URLSearchParams();
    for (const [name, el] of [["flow", flowChoice], ["status", statusChoice]]) {
      const value = el.querySelector("select").value;
      if (value) q.set(name, value);
    }
    location.hash = `#/executions?${q}`;
  }
  const body = h("tbody");
  const refresh = async () => {
    const q = new URLSearchParams(query);
    q.set("limit", "50");
    const { items } = await api(`/api/executions?${q}`);
    body.replaceChildren(...items.map((e) => h("tr", { "data-execution": e.id, "data-status": e.status },
      h("td", {}, h("a", { href: `#/executions/${e.id}` }, h("code", {}, e.id))),
      h("td", {}, e.flow_id ?? "(no flow)"),
      h("td", { class: `state-${e.status === "succeeded" ? "active" : "rejected"}` }, e.status),
      h("td", {}, e.response_status ?? ""),
      h("td", {}, new Date(e.received_at).toLocaleString()),
      h("td", {}, e.duration_ms === null ? "—" : e.duration_ms === 0 ? "< 1 ms" : `${e.duration_ms} ms`))));
  };
  show(h("h1", {}, "Executions"), h("p", { class: "filters" }, flowChoice, " ", statusChoice, " ",
    h("span", { class: "muted" }, "(refreshed every 2 s)")),
    h("table", {}, h("thead", {}, h("tr", {}, ["Execution", "Flow", "Status", "Answer", "Received", "Took"].map((t) => h("th", {}, t)))), body));
  const here = location.hash;
  refresher = setInterval(() => { if (location.hash === here) refresh().catch(() => {}); }, 2000);
  await refresh();
}

async function showExecution(id) {
  const e = await api(`/api/executions/${encodeURIComponent(id)}`);
  signOut.hidden = false;
  show(h("h1", {}, "Execution ", h("code", {}, e.id)), ...(await executionView(e)));
}

/** An execution: its facts, its error, the run drawn on its flow's graph, request and response. */
async function executionView(e, { replayable = true } = {}) {
  const steps = new Map((e.trace ?? []).map((step) => [step.node, step]));
  const panel = h("aside", { "aria-live": "polite" }, h("p", { class: "muted" }, "Select a node to see its input and output."));
  const facts = h("p", {}, `${e.status}`, e.response_status ? ` · answered ${e.response_status}` : "",
    ` · ${e.flow_id ?? "no flow"} version ${e.flow_version ?? "—"} · ${new Date(e.received_at).toLocaleString()}`);
  const replayed = h("section", { id: "replay-result", "aria-live": "polite" });
  const replay = h("button", { type: "button", id: "replay", onclick: async () => {
    replay.disabled = true;
    replayed.replaceChildren(h("p", { class: "muted" }, "Replaying…"));
    try {
      const doc = await api(`/api/executions/${encodeURIComponent(e.id)}/replay`, { method: "POST", headers: CSRF });
      replayed.replaceChildren(...replayView(doc));
    } catch (error) {
      if (error.message !== "signed out") replayed.replaceChildren(h("p", { class: "error" }, error.message));
    }
    replay.disabled = false;
  } }, "Replay on the current version");
  const parts = replayable ? [facts, h("p", {}, replay), replayed] : [facts];
  if (e.error) parts.push(h("p", { class: "error", id: "execution-error" }, `${e.error.node ? `node ${e.error.node}: ` : ""}${e.error.message}`));
  if (e.flow_id) {
    try {
      const [layout, flow] = await Promise.all([
        api(`/api/flows/${encodeURIComponent(e.flow_id)}/layout`), api(`/api/flows/${encodeURIComponent(e.flow_id)}`)]);
      if (flow.version !== e.flow_version) {
        parts.push(h("p", { class: "muted" }, `Drawn on the flow's current version ${flow.version}; this execution ran on ${e.flow_version}.`));
      }
      const picture = graph(layout, (node) => {
        const step = steps.get(node.id);
        panel.replaceChildren(h("h2", {}, node.id), h("p", { class: "muted" }, step ? `${step.status} in ${duration(step.duration_us)}` : "did not run"),
          ...(step?.error ? [h("p", { class: "error" }, step.error)] : []),
          ...(step && "input" in step ? [h("h3", {}, "Input"), json(step.input)] : []),
          ...(step && "output" in step ? [h("h3", {}, "Output"), json(step.output)] : []),
          ...(step?.logs ? [h("h3", {}, "Logs"), h("pre", {}, step.logs.join("\n"))] : []));
      }, (node, group) => {
        const step = steps.get(node.id);
        group.classList.add(step ? `ran-${step.status}` : "not-run");
        if (step) group.append(svg("text", { class: "took", x: node.x + node.width - 8, y: node.y + 40, "text-anchor": "end" }, duration(step.duration_us)));
      }, (edge, line) => {
        if (steps.get(edge.to)?.from === edge.from) line.classList.add("taken");
      });
      parts.push(h("div", { class: "flow" }, h("div", { class: "graph" }, picture), panel));
    } catch (error) {
      if (error.message === "signed out") throw error;
      parts.push(h("p", { class: "muted" }, `The flow cannot be drawn: ${error.message}`));
    }
  }
  parts.push(h("h2", {}, "Request"), json(e.request), h("h2", {}, "Response"), json(e.response));
  return parts;
}

async function showSubscriptions() {
  const { items } = await api("/api/subscriptions");
  signOut.hidden = false;
  const notice = h("section", { id: "subscription-notice", "aria-live": "polite" });
  const change = async (sub, body) => {
    await api(`/api/subscriptions/${sub.id}`, { method: "PATCH", headers: { "content-type": "application/json", ...CSRF }, body: JSON.stringify(body) });
    route();
  };
  const rows = items.map((sub) => h("tr", { "data-subscription": sub.id },
    h("td", {}, h("a", { href: `#/subscriptions/${sub.id}` }, sub.name)),
    h("td", {}, h("code", {}, sub.url)),
    h("td", {}, sub.events.join(", ")),
    h("td", { class: sub.active ? "state-active" : "state-rejected" }, sub.active ? "active" : `paused${sub.disabled_reason ? `: ${sub.disabled_reason}` : ""}`),
    h("td", {},
      h("button", { type: "button", class: "toggle", onclick: () => change(sub, { active: !sub.active }) }, sub.active ? "Pause" : "Resume"), " ",
      h("button", { type: "button", class: "test", onclick: async () => {
        const d = await api(`/api/subscriptions/${sub.id}/test`, { method: "POST", headers: CSRF });
        const last = d.attempts?.[d.attempts.length - 1];
        notice.replaceChildren(h("p", { id: "test-result" }, `Test to ${sub.name}: ${d.status}`,
          last ? ` (answered ${last.status ?? last.error} in ${last.duration_ms} ms)` : "", " · ", h("a", { href: `#/deliveries/${d.id}` }, "the delivery")));
      } }, "Test"))));
  const field = (name, attrs = {}) => h("label", { for: `sub-${name}` }, name, h("input", { id: `sub-${name}`, name, ...attrs }));
  const form = h("form", { class: "console", onsubmit: async (event) => {
    event.preventDefault();
    const events = form.querySelector("#sub-events").value.split(",").map((e) => e.trim()).filter(Boolean);
    const body = { name: form.querySelector("#sub-name").value, url: form.querySelector("#sub-url").value, events: events.length ? events : ["*"] };
    const response = await fetch("/api/subscriptions", { method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", ...CSRF }, body: JSON.stringify(body) });
    const doc = await response.json().catch(() => ({}));
    if (!response.ok) {
      notice.replaceChildren(h("p", { class: "error", id: "create-error" }, `${doc.pointer ? `${doc.pointer}: ` : ""}${doc.detail ?? response.status}`));
      return;
    }
    await showSubscriptions();
    const secret = h("code", { id: "new-secret" }, doc.secret);
    document.getElementById("subscription-notice").replaceChildren(h("div", { class: "secret" },
      h("p", {}, `Subscription ${doc.name} created. Its signing secret is shown this once: keep it where the receiver verifies signatures.`),
      h("p", {}, secret, " ", h("button", { type: "button", onclick: () => navigator.clipboard?.writeText(doc.secret) }, "Copy"))));
  } }, field("name", { required: true }), field("url", { required: true, placeholder: "https://crm.example.com/hooks" }),
    field("events", { placeholder: "* or execution.failed, order.accepted" }), h("button", { type: "submit", id: "create-subscription" }, "Create"));
  show(h("h1", {}, "Outbound subscriptions"), notice,
    h("table", {}, h("thead", {}, h("tr", {}, ["Name", "URL", "Events", "State", ""].map((t) => h("th", {}, t)))), h("tbody", {}, rows)),
    h("h2", {}, "New subscription"), form);
}

async function showDeliveries(id) {
  const [sub, page] = await Promise.all([api(`/api/subscriptions/${encodeURIComponent(id)}`),
    api(`/api/subscriptions/${encodeURIComponent(id)}/deliveries?limit=50`)]);
  signOut.hidden = false;
  show(h("h1", {}, `Deliveries to ${sub.name} `, h("span", { class: "muted" }, sub.url)),
    h("table", {}, h("thead", {}, h("tr", {}, ["Delivery", "Event", "Status", "Attempts", "Last answer", "Next attempt"].map((t) => h("th", {}, t)))),
      h("tbody", {}, page.items.map((d) => h("tr", { "data-delivery": d.id },
        h("td", {}, h("a", { href: `#/deliveries/${d.id}` }, h("code", {}, d.id))), h("td", {}, d.event_type),
        h("td", {}, d.status), h("td", {}, d.attempts), h("td", {}, d.last_status ?? d.last_error ?? "—"),
        h("td", {}, d.status === "pending" ? (d.next_attempt_at ? new Date(d.next_attempt_at).toLocaleString() : "held (paused)") : "—"))))));
}

async function showDelivery(id) {
  const d = await api(`/api/deliveries/${encodeURIComponent(id)}`);
  signOut.hidden = false;
  const retried = h("p", { id: "retry-result", "aria-live": "polite" });
  show(h("h1", {}, "Delivery ", h("code", {}, d.id)),
    h("p", {}, `${d.event_type} · ${d.status} · ${d.attempts.length} attempt(s) · `, h("a", { href: `#/subscriptions/${d.subscription_id}` }, "the subscription's deliveries")),
    h("p", {}, h("button", { type: "button", id: "retry", onclick: async () => {
      const again = await api(`/api/deliveries/${encodeURIComponent(d.id)}/retry`, { method: "POST", headers: CSRF });
      retried.textContent = `Sent again: ${again.status}.`;
    } }, "Send again now"), " ", retried),
    h("table", { id: "attempts" }, h("thead", {}, h("tr", {}, ["At", "Answer", "Took", "Response"].map((t) => h("th", {}, t)))),
      h("tbody", {}, d.attempts.map((a) => h("tr", {}, h("td", {}, new Date(a.at).toLocaleString()),
        h("td", { class: a.status >= 200 && a.status < 300 ? "state-active" : "state-rejected" }, a.status ?? a.error),
        h("td", {}, a.duration_ms === 0 ? "< 1 ms" : `${a.duration_ms} ms`),
        h("td", {}, h("code", {}, (a.response_body ?? "").slice(0, 200))))))),
    h("h2", {}, "Payload"), json(d.payload));
}

/** A replay's answer: the new execution (linked), which version it ran on, and the diff. */
function replayView(doc) {
  const { execution, original, diff } = doc;
  const changes = [];
  if (diff.status) changes.push(`status ${diff.status.from} → ${diff.status.to}`);
  for (const c of diff.headers) changes.push(`header ${c.name}: ${JSON.stringify(c.from ?? null)} → ${JSON.stringify(c.to ?? null)}`);
  for (const c of diff.body) {
    const from = "from" in c ? JSON.stringify(c.from) : "(absent)";
    const to = "to" in c ? JSON.stringify(c.to) : "(absent)";
    changes.push(`body #${c.pointer}: ${from} → ${to}`);
  }
  return [h("h2", {}, "Replay ", h("a", { href: `#/executions/${execution.id}` }, h("code", {}, execution.id))),
    h("p", {}, `Ran the recorded request of ${original.id} on version ${execution.flow_version} (the original ran on ${original.flow_version}): ${execution.status}, answered ${execution.response_status ?? "—"}.`),
    changes.length === 0
      ? h("p", { id: "replay-diff" }, "Same answer: no difference.")
      : h("ul", { id: "replay-diff" }, changes.map((c) => h("li", {}, c)))];
}

/** The call a flow's console starts from: its first method, its path, the auth header it
 * names, and its expected body. */
function sampleCall(flow) {
  const trigger = (flow.document?.nodes ?? []).find((n) => n.type === "webhook") ?? {};
  const headers = {};
  const auth = trigger.auth ?? {};
  if (auth.type === "api_key" && (auth.in ?? "header") === "header") headers[auth.name ?? "X-API-Key"] = "";
  if (auth.type === "bearer") headers.Authorization = "Bearer ";
  return {
    method: (trigger.methods ?? ["POST"])[0],
    path: (trigger.suffix ?? "/").replace(/\{\*?([^}]+)\}/g, "$1"),
    query: "",
    headers,
    body: trigger.expected?.body ?? null,
  };
}

async function showConsole(id) {
  const flow = await api(`/api/flows/${encodeURIComponent(id)}`);
  signOut.hidden = false;
  const recent = (await api(`/api/executions?flow=${encodeURIComponent(id)}&limit=10`)).items;
  const field = (name, value, tag = "input") => {
    const el = h(tag, { id: `call-${name}`, name, ...(tag === "input" ? { value } : { rows: 8, cols: 60 }) });
    if (tag === "textarea") el.value = value;
    return h("label", { for: `call-${name}` }, name, el);
  };
  const fill = (call) => {
    form.querySelector("#call-method").value = call.method;
    form.querySelector("#call-path").value = call.path;
    form.querySelector("#call-query").value = call.query;
    form.querySelector("#call-headers").value = JSON.stringify(call.headers, null, 2);
    form.querySelector("#call-body").value = call.body === null ? "" : JSON.stringify(call.body, null, 2);
  };
  const result = h("section", { id: "call-result", "aria-live": "polite" });
  const from = h("select", { id: "call-from", onchange: async () => {
    if (!from.value) return fill(sampleCall(flow));
    const e = await api(`/api/executions/${encodeURIComponent(from.value)}`);
    const headers = Object.fromEntries(Object.entries(e.request.headers ?? {})
      .filter(([name]) => !["host", "content-length", "connection"].includes(name)));
    fill({ method: e.request.method, path: e.request.path.replace(/^\/hooks/, ""), query: e.request.query ?? "", headers, body: e.request.body });
  } }, h("option", { value: "" }, "the flow's expected sample"),
    recent.map((e) => h("option", { value: e.id }, `${e.id} (${e.status}, ${e.response_status ?? "—"})`)));
  const form = h("form", { class: "console", onsubmit: async (event) => {
    event.preventDefault();
    let headers, body;
    try {
      headers = JSON.parse(form.querySelector("#call-headers").value || "{}");
      const text = form.querySelector("#call-body").value.trim();
      body = text === "" ? null : (() => { try { return JSON.parse(text); } catch { return text; } })();
    } catch (error) {
      result.replaceChildren(h("p", { class: "error" }, `Headers: ${error.message}`));
      return;
    }
    const call = { method: form.querySelector("#call-method").value, path: form.querySelector("#call-path").value,
      query: form.querySelector("#call-query").value, headers, body };
    if (form.querySelector("#call-offline").checked) Object.assign(call, { offline: true, flow: flow.id });
    result.replaceChildren(h("p", { class: "muted" }, "Sending…"));
    let answer;
    try {
      answer = await api("/api/calls", { method: "POST", headers: { "content-type": "application/json", ...CSRF }, body: JSON.stringify(call) });
    } catch (error) {
      result.replaceChildren(h("p", { class: "error" }, error.message));
      return;
    }
    const parts = [h("h2", {}, "Answer ", h("span", { id: "answer-status" }, String(answer.status))),
      h("pre", {}, answer.headers.map(([n, v]) => `${n}: ${v}`).join("\n")), json(answer.body)];
    if (answer.offline && answer.trace) {
      parts.push(h("p", { class: "muted", id: "offline-note" }, "Ran offline, as hookflow run does: auth was not checked, and nothing was recorded, stored or emitted."));
      for (const w of answer.stored ?? []) parts.push(h("p", {}, `Would store in ${w.collection} record ${w.key}: `, h("code", {}, JSON.stringify(w.record))));
      for (const ev of answer.emitted ?? []) parts.push(h("p", {}, `Would emit ${ev.type}: `, h("code", {}, JSON.stringify(ev.data))));
      const run = { id: "offline", status: answer.execution_status, response_status: answer.status, flow_id: flow.id,
        flow_version: answer.flow_version, received_at: new Date().toISOString(), error: answer.error, trace: answer.trace,
        request: call, response: { status: answer.status, headers: answer.headers, body: answer.body } };
      parts.push(h("h2", {}, "The run"), ...(await executionView(run, { replayable: false })));
    }
    if (answer.execution_id) {
      const saved = h("p", { id: "case-saved" });
      parts.push(h("p", {}, h("button", { type: "button", id: "save-case", onclick: async () => {
        try {
          const doc = await api(`/api/executions/${answer.execution_id}/case`, { method: "POST", headers: CSRF });
          saved.textContent = `Saved as case “${doc.case?.name ?? "captured"}” in ${doc.file ?? "the flow's cases file"}.`;
        } catch (error) { saved.textContent = error.message; }
      } }, "Save as a case")), saved);
      const e = await recorded(flow.id, answer.execution_id);
      if (e) parts.push(h("h2", {}, "The run"), ...(await executionView(e)));
    }
    result.replaceChildren(...parts);
  } },
    h("label", { for: "call-from" }, "Start from", from),
    field("method", ""), field("path", ""), field("query", ""), field("headers", "", "textarea"), field("body", "", "textarea"),
    h("label", { class: "inline" }, h("input", { type: "checkbox", id: "call-offline" }),
      " Offline, as hookflow run: no auth check, nothing recorded, stored or emitted"),
    h("button", { type: "submit", id: "send-call" }, "Send"));
  show(h("h1", {}, "Test console ", h("span", { class: "muted" }, `(${flow.id})`)),
    h("p", { class: "muted" }, "The call goes through the flow's real route, auth included, from the loopback address, and is recorded like any other; or, offline, runs the flow without them."),
    form, result);
  fill(sampleCall(flow));
}

/** Execution `id` of `flow` once history lists it (it is written in batches): 5 s at most. */
async function recorded(flow, id) {
  for (let i = 0; i < 25; i++) {
    const { items } = await api(`/api/executions?flow=${encodeURIComponent(flow)}&limit=20`);
    if (items.some((e) => e.id === id)) return api(`/api/executions/${encodeURIComponent(id)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return null;
}

async function route() {
  clearInterval(refresher);
  drawing = location.hash;
  const [path, search] = location.hash.split("?");
  const [, page, id] = path.split("/");
  try {
    if (page === "flows" && id) await showFlow(decodeURIComponent(id));
    else if (page === "executions" && id) await showExecution(decodeURIComponent(id));
    else if (page === "console" && id) await showConsole(decodeURIComponent(id));
    else if (page === "subscriptions" && id) await showDeliveries(decodeURIComponent(id));
    else if (page === "subscriptions") await showSubscriptions();
    else if (page === "deliveries" && id) await showDelivery(decodeURIComponent(id));
    else if (page === "executions") await showExecutions(new URLSearchParams(search ?? ""));
    else await showFlows();
  } catch (error) {
    if (error.message !== "signed out") show(h("p", { class: "error", role: "alert" }, error.message));
  }
}

signOut.addEventListener("click", async () => {
  await fetch("/api/session", { method: "DELETE", credentials: "same-origin", headers: CSRF });
  showSignIn();
});
window.addEventListener("hashchange", route);
route();
