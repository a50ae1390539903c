// hookflow's web UI: plain ES modules over the admin API, signed in with a session cookie.
// Pages: sign-in, the flows list (#/flows) and a flow drawn as a graph (#/flows/<id>).

const main = document.getElementById("main");
const signOut = document.getElementById("sign-out");
const SVG = "http://www.w3.org/2000/svg";
const CSRF = { "x-hookflow-csrf": "1" };

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

function show(...children) {
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
  const config = new Map((flow.document?.nodes ?? []).map((node) => [node.id, node]));
  const panel = h("aside", { "aria-live": "polite" }, h("p", { class: "muted" }, "Select a node to see its configuration."));
  const picture = graph(layout, (node) => {
    panel.replaceChildren(h("h2", {}, `${node.id}`), h("p", { class: "muted" }, `${node.type} · ${node.role}`),
      h("pre", { id: "node-config" }, JSON.stringify(config.get(node.id) ?? {}, null, 2)));
  });
  show(h("h1", {}, `${flow.name} `, h("span", { class: "muted" }, `(${flow.id}, ${flow.state}, version ${flow.version})`)),
    h("div", { class: "flow" }, h("div", { class: "graph" }, picture), panel));
}

/** The layout drawn as SVG: boxes, edges with their branch outputs; `onSelect` on a node. */
function graph(layout, onSelect) {
  const root = svg("svg", { width: layout.width, height: layout.height, viewBox: `0 0 ${layout.width} ${layout.height}`, role: "img", "aria-label": "flow graph" });
  root.append(svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 8, markerHeight: 8, orient: "auto-start-reverse" },
    svg("path", { d: "M 0 0 L 10 5 L 0 10 z", fill: "#5d6778" }))));
  for (const edge of layout.edges) {
    const points = edge.points.map(([x, y]) => `${x},${y}`).join(" ");
    root.append(svg("polyline", { class: "edge", points, "data-from": edge.from, "data-to": edge.to }));
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

async function route() {
  const [, page, id] = location.hash.split("/");
  try {
    if (page === "flows" && id) await showFlow(decodeURIComponent(id));
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
