// geodns console: a single page over the REST API, no dependencies, no build step.
// Every value shown comes from the API and is put into the page as text (never as HTML).
// The token lives in sessionStorage: this tab only, gone when it closes.

const REFRESH_MS = 3000;
const STATES = {
  up: ["\u2714", "up"], // check mark
  down: ["\u2716", "down"], // heavy x
  held: ["\u25d4", "held"], // a clock-like circle: flap damping holds it down for a while
  drained: ["\u275a\u275a", "drained"], // pause bars (glyphs every DejaVu font has)
};
const WRITERS = new Set(["admin", "editor"]);

const session = {
  token: sessionStorage.getItem("geodns.token"),
  name: sessionStorage.getItem("geodns.name"),
  role: sessionStorage.getItem("geodns.role"),
};
let current = null; // the view on screen: {refresh()}
let timer = null;

class ApiError extends Error {
  constructor(status, body) {
    super(describe(status, body));
    this.status = status;
    this.body = body;
  }
}

function describe(status, body) {
  if (body && typeof body === "object") {
    // the API's one error body: {"error", "problems": [{"where", "message"}], "request_id"}
    const details = (body.problems || []).map((p) => `${p.where}: ${p.message}`);
    return [body.error || `HTTP ${status}`, ...details].join("; ");
  }
  return `HTTP ${status}${body ? `: ${body}` : ""}`;
}

async function api(method, path, { body, ifMatch } = {}) {
  const headers = { Authorization: `Bearer ${session.token}` };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  if (ifMatch) headers["If-Match"] = ifMatch;
  const response = await fetch(path, {
    method,
    headers,
    cache: "no-store",
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  let data = text;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    // not JSON: keep the text
  }
  if (response.status === 401 && path !== "/api/v1/whoami") {
    signOut("The API refused the token (unknown or revoked): sign in again.");
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return { data, headers: response.headers };
}

// -- building the page (text only) -----------------------------------------------------

function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

// a table that becomes one labelled card per row on a phone-width screen
function table(columns, rows, attrs = {}) {
  const head = h("tr", {}, columns.map((c) => h("th", { class: c.num ? "num" : null, scope: "col" }, c.label)));
  const body = rows.map((row) =>
    h(
      "tr",
      row.attrs || {},
      row.cells.map((cell, i) =>
        h("td", { "data-label": columns[i].label, class: columns[i].num ? "num" : null }, cell),
      ),
    ),
  );
  return h("div", { class: "table-wrap" }, h("table", { class: "stack", ...attrs }, h("thead", {}, head), h("tbody", {}, body)));
}

function badge(state, detail) {
  const [icon, word] = STATES[state] || ["?", state];
  return h(
    "span",
    { class: `state state-${state}`, "data-state": state },
    h("span", { "aria-hidden": "true" }, icon),
    ` ${word}`,
    detail ? h("span", { class: "muted" }, ` (${detail})`) : null,
  );
}

function ago(iso) {
  if (!iso) return "";
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (seconds < 120) return `${seconds} s ago`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min ago`;
  return new Date(iso).toLocaleString();
}

function rate(value) {
  if (value === null || value === undefined) return h("span", { class: "muted", title: "measuring: needs two samples, 5 s apart" }, "\u2026");
  return value >= 10 ? value.toFixed(0) : value.toFixed(1);
}

function percent(share) {
  return share === null || share === undefined ? "\u2026" : `${(share * 100).toFixed(0)} %`;
}

function bar(share, kind) {
  const el = h("span", { class: `bar ${kind}`, "aria-hidden": "true" });
  el.style.width = `${Math.round((share || 0) * 80)}px`; // CSSOM: allowed by the page's CSP
  return el;
}

function setStatus(text) {
  document.getElementById("status").textContent = text;
}

function showProblem(text) {
  const el = document.getElementById("problem");
  el.textContent = text || "";
  el.hidden = !text;
}

function mount(...nodes) {
  const view = document.getElementById("view");
  view.replaceChildren(...nodes);
}

// -- signing in and out ----------------------------------------------------------------

async function signIn(token) {
  session.token = token;
  const { data } = await api("GET", "/api/v1/whoami");
  session.name = data.name;
  session.role = data.role;
  sessionStorage.setItem("geodns.token", token);
  sessionStorage.setItem("geodns.name", data.name);
  sessionStorage.setItem("geodns.role", data.role);
}

function signOut(message) {
  for (const key of ["token", "name", "role"]) {
    sessionStorage.removeItem(`geodns.${key}`);
    session[key] = null;
  }
  clearInterval(timer);
  current = null;
  document.getElementById("sign-in-error").textContent = message || "";
  render();
}

function showChrome(signedIn) {
  document.getElementById("sign-in").hidden = signedIn;
  document.getElementById("nav").hidden = !signedIn;
  document.getElementById("who").hidden = !signedIn;
  if (!signedIn) {
    mount();
    setStatus("");
    showProblem("");
    return;
  }
  document.getElementById("who-text").textContent = `${session.name} (${session.role})`;
  for (const link of document.querySelectorAll("#nav a[data-role]")) {
    link.hidden = link.dataset.role !== session.role;
  }
}

// -- views -----------------------------------------------------------------------------

function overviewView() {
  let cursor = null;
  const view = {
    title: "Overview",
    async refresh() {
      const page = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const [nodes, zones, overview] = await Promise.all([
        api("GET", "/api/v1/nodes"),
        api("GET", "/api/v1/zones"),
        api("GET", `/api/v1/overview?limit=100${page}`),
      ]);
      if (current !== view) return; // navigated away while this was loading
      mount(
        nodesCard(nodes.data, overview.data.node),
        zonesCard(zones.data),
        poolsCard(overview.data, (next) => {
          cursor = next;
          view.refresh();
        }),
      );
    },
  };
  return view;
}

function nodesCard(data, node) {
  const rows = data.nodes.map((n) => ({
    attrs: { "data-node": n.name },
    cells: [
      h("span", {}, n.name, n.name === data.this_node ? h("span", { class: "muted" }, " (this node)") : null),
      n.version,
      String(n.snapshot_generation),
      `${n.store_generation} of ${data.store_generation}`,
      ago(n.last_seen),
      n.flags.length
        ? n.flags.map((f) => h("span", { class: "flag" }, f === "silent" ? "\u26a0 silent" : "\u26a0 behind", " "))
        : h("span", { class: "ok" }, "\u2714 current"),
    ],
  }));
  return h(
    "section",
    { class: "card", "aria-labelledby": "nodes-h" },
    h("h2", { id: "nodes-h" }, "Nodes sharing the database"),
    rows.length ? table(
      [
        { label: "Node" },
        { label: "Version" },
        { label: "Snapshot" },
        { label: "Store generation" },
        { label: "Last seen" },
        { label: "State" },
      ],
      rows,
    ) : h("p", { class: "muted" }, "No heartbeat recorded yet."),
    h("p", { class: "muted" }, `This node serves snapshot ${node.generation} (store generation ${node.store_generation}).`,
      node.database_reachable ? null : h("span", { class: "flag" }, " \u26a0 the database is unreachable: serving the last snapshot")),
  );
}

function zonesCard(data) {
  const rows = data.zones.map((z) => ({
    cells: [z.name, String(z.serial), String(z.records), z.error ? h("span", { class: "flag" }, `\u26a0 ${z.error}`) : h("span", { class: "ok" }, "\u2714 loaded")],
  }));
  for (const e of data.errors) {
    if (!data.zones.some((z) => z.file === e.file)) {
      rows.push({ cells: [e.file, "", "", h("span", { class: "flag" }, `\u26a0 ${e.error}`)] });
    }
  }
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Zones"),
    table([{ label: "Zone" }, { label: "Serial", num: true }, { label: "Records", num: true }, { label: "Load" }], rows),
  );
}

function poolsCard(data, go) {
  const rows = data.pools.map((p) => ({
    attrs: { "data-pool": p.name },
    cells: [
      h("a", { href: `#/pools/${encodeURIComponent(p.name)}` }, p.name),
      p.policy,
      String(p.members),
      h(
        "span",
        { class: "counts" },
        ["up", "down", "drained", "held"].map((s) => (p[s] || s === "up" ? h("span", { "data-count": s }, badge(s), ` ${p[s]}`) : null)),
      ),
      rate(p.qps),
      p.redirects_per_s ? rate(p.redirects_per_s) : "",
      p.served ? h("span", { class: "ok" }, "\u2714 served") : h("span", { class: "flag" }, `\u26a0 ${p.problem || "not served"}`),
    ],
  }));
  return h(
    "section",
    { class: "card" },
    h("h2", {}, "Pools"),
    table(
      [
        { label: "Pool" },
        { label: "Policy" },
        { label: "Members", num: true },
        { label: "States" },
        { label: "Queries/s (1 min)", num: true },
        { label: "Redirects/s", num: true },
        { label: "Serving" },
      ],
      rows,
    ),
    h("p", { class: "muted" }, "Rates are this node's own counters over the last minute", data.rates_span_s ? ` (${Math.round(data.rates_span_s)} s measured).` : "."),
    h("div", { class: "pager" }, data.next ? h("button", { type: "button", onclick: () => go(new URL(data.next, location.href).searchParams.get("cursor")) }, "Next page") : null),
  );
}

function poolView(name) {
  let etag = null;
  const view = {
    title: name,
    async refresh() {
      const { data, headers } = await api("GET", `/api/v1/pools/${encodeURIComponent(name)}/state`);
      if (current !== view) return; // navigated away while this was loading
      etag = headers.get("ETag");
      mount(poolCard(data, act, openWeight));
    },
  };

  async function act(member, change, verb) {
    try {
      await api("PATCH", memberPath(name, member.address), { body: change, ifMatch: etag });
      setStatus(`${verb} ${member.address}.`);
      showProblem("");
    } catch (error) {
      showProblem(refusal(error, verb, member.address));
    }
    await view.refresh();
  }

  function openWeight(member) {
    const dialog = document.getElementById("weight-dialog");
    const input = document.getElementById("weight-value");
    const opened = etag; // the edit is of what was on screen when the dialog opened
    document.getElementById("weight-address").textContent = member.address;
    document.getElementById("weight-error").textContent = "";
    input.value = member.weight;
    document.getElementById("weight-form").onsubmit = async (event) => {
      event.preventDefault();
      const weight = Number(input.value);
      try {
        await api("PATCH", memberPath(name, member.address), { body: { weight }, ifMatch: opened });
        dialog.close();
        setStatus(`Weight of ${member.address} set to ${weight}.`);
        showProblem("");
      } catch (error) {
        document.getElementById("weight-error").textContent = refusal(error, "Weight change", member.address);
      }
      await view.refresh();
    };
    document.getElementById("weight-cancel").onclick = () => dialog.close();
    dialog.showModal();
    input.focus();
  }

  return view;
}

function memberPath(pool, address) {
  return `/api/v1/pools/${encodeURIComponent(pool)}/members/${encodeURIComponent(address)}`;
}

function refusal(error, what, address) {
  if (error.status === 412) {
    return `${what} of ${address} not saved: someone changed this pool after you loaded it. The view now shows the current pool; check it and try again.`;
  }
  if (error.status === 403) return `${what} not allowed: ${error.message}`;
  return `${what} of ${address} failed: ${error.message}`;
}

function poolCard(data, act, openWeight) {
  const writer = WRITERS.has(session.role);
  const columns = [
    { label: "Address" },
    { label: "Region" },
    { label: "Weight", num: true },
    { label: "State" },
    { label: "Since" },
    { label: "Probes" },
    { label: "Check", num: true },
    { label: "Answers vs weight (1 min)" },
  ];
  if (writer) columns.push({ label: "Change" });
  const rows = data.members.map((m) => {
    const cells = [
      h("span", {}, m.address, m.url ? h("div", { class: "muted" }, m.url) : null),
      m.region,
      m.effective_weight !== null && m.effective_weight !== m.weight ? `${m.weight} (now ${m.effective_weight})` : String(m.weight),
      h("span", {}, badge(m.state, m.state === "down" ? null : m.detail), m.state !== "up" && m.reason && m.state !== "drained" ? h("div", { class: "muted" }, m.reason) : null,
        m.state === "drained" && m.health === "down" ? h("div", { class: "muted" }, `health: down (${m.reason})`) : null,
        m.held_until ? h("div", { class: "muted" }, `held until ${new Date(m.held_until).toLocaleTimeString()}`) : null),
      m.since ? ago(m.since) : h("span", { class: "muted" }, "never reported"),
      m.probes.length
        ? h("ul", { class: "probes" }, m.probes.map((p) => h("li", {}, `${p.probe}: ${p.status}`, p.reason ? ` (${p.reason})` : "", p.live ? "" : " \u2013 expired")))
        : h("span", { class: "muted" }, "none"),
      m.latency_ms === null ? h("span", { class: "muted" }, "\u2013") : `${m.latency_ms} ms`,
      h(
        "span",
        { class: "share" },
        bar(m.answer_share, "answers"),
        `${percent(m.answer_share)} of answers`,
        h("br"),
        bar(m.weight_share, "weight"),
        `${percent(m.weight_share)} of weight`,
      ),
    ];
    if (writer) {
      const drained = !m.enabled;
      cells.push(
        h(
          "span",
          { class: "actions" },
          h(
            "button",
            {
              type: "button",
              "data-action": drained ? "undrain" : "drain",
              onclick: () => act(m, { enabled: drained }, drained ? "Undrained" : "Drained"),
            },
            drained ? "Undrain" : "Drain",
          ),
          h("button", { type: "button", "data-action": "weight", onclick: () => openWeight(m) }, "Weight\u2026"),
        ),
      );
    }
    return { attrs: { "data-address": m.address }, cells };
  });
  return h(
    "section",
    { class: "card" },
    h("p", {}, h("a", { href: "#/" }, "\u2190 Overview")),
    h("h2", {}, data.name),
    h(
      "dl",
      { class: "kv" },
      h("dt", {}, "Policy"), h("dd", {}, data.policy),
      h("dt", {}, "Version"), h("dd", { "data-version": data.version }, String(data.version)),
      h("dt", {}, "Queries/s (1 min)"), h("dd", {}, rate(data.qps)),
      data.redirects_per_s ? [h("dt", {}, "Redirects/s"), h("dd", {}, rate(data.redirects_per_s))] : null,
      h("dt", {}, "Serving"), h("dd", {}, data.served ? h("span", { class: "ok" }, "\u2714 served") : h("span", { class: "flag" }, `\u26a0 ${data.problem || "not served"}`)),
    ),
    table(columns, rows, { "aria-label": `members of ${data.name}` }),
    h("p", { class: "muted" }, "Drain takes a member out of answers and keeps its weight for when it is undrained. Shares are of the answers this node gave and of the enabled members' weights."),
    h("p", {}, h("a", { href: `#/audit?pool=${encodeURIComponent(data.name)}`, "data-role": "admin", hidden: session.role !== "admin" }, "Audit trail of this pool")),
  );
}

function explainView() {
  const result = h("div", {});
  const form = h(
    "form",
    { class: "inline", id: "explain-form" },
    h("div", {}, h("label", { for: "ex-name" }, "Name"), h("input", { id: "ex-name", name: "name", required: true, placeholder: "www.example.com" })),
    h("div", {}, h("label", { for: "ex-type" }, "Type"), h("select", { id: "ex-type", name: "type" }, h("option", {}, "A"), h("option", {}, "AAAA"))),
    h("div", {}, h("label", { for: "ex-client" }, "Client address or ECS prefix"), h("input", { id: "ex-client", name: "client", required: true, placeholder: "81.2.69.142 or 81.2.69.0/24" })),
    h("div", {}, h("label", { for: "ex-path" }, "HTTP path (optional)"), h("input", { id: "ex-path", name: "path", placeholder: "/downloads/f.iso" })),
    h("button", { type: "submit" }, "Explain"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = new FormData(form);
    const query = new URLSearchParams({ name: fields.get("name"), type: fields.get("type") });
    const who = fields.get("client").trim();
    query.set(who.includes("/") ? "ecs" : "client", who);
    if (fields.get("path")) query.set("path", fields.get("path"));
    try {
      const { data } = await api("GET", `/api/v1/explain?${query}`);
      result.replaceChildren(explanation(data));
      showProblem("");
    } catch (error) {
      result.replaceChildren(h("p", { class: "error" }, error.message));
    }
  });
  mount(h("section", { class: "card" }, h("h2", {}, "Explain an answer"), h("p", { class: "muted" }, "The decision the DNS path (and, with a path, the HTTP redirector) makes for this client now, by the same code as GET /api/v1/explain."), form), result);
  return { title: "Explain", refresh: null };
}

function explanation(data) {
  const why = data.explanation;
  const location = data.location;
  const parts = [
    h("h3", {}, "Answer"),
    h(
      "dl",
      { class: "kv", id: "explain-answer" },
      h("dt", {}, "Client"), h("dd", {}, data.client),
      h("dt", {}, "Location"), h("dd", {}, location ? [location.country, location.continent].filter(Boolean).join(", ") + ` (GeoIP network /${location.prefix})` : "unknown"),
      h("dt", {}, "Rule"), h("dd", {}, why ? (why.rule ? `${why.rule.kind} ${why.rule.value} \u2192 ${why.rule.regions.join(", ")} (${why.rule_reason})` : why.rule_reason) : "not a pool"),
      h("dt", {}, "Answered"), h("dd", { "data-answer": data.addresses.join(" ") }, `${data.rcode}: ${data.addresses.join(", ") || "no addresses"}`),
      h("dt", {}, "ECS scope"), h("dd", {}, data.ecs_scope === null ? "no ECS in the query" : `/${data.ecs_scope}`),
      why ? [h("dt", {}, "Fail-open"), h("dd", {}, why.fail_open ? "yes: every region was down" : "no")] : null,
    ),
  ];
  if (why) {
    parts.push(h("h3", {}, "Regions tried"));
    parts.push(
      table(
        [{ label: "Region" }, { label: "Outcome" }, { label: "Members" }],
        why.regions.map((r) => ({
          cells: [r.region ?? "(all)", r.outcome, h("ul", { class: "probes" }, r.members.map((m) => h("li", {}, `${m.address}: ${m.status} (weight ${m.configured_weight})`)))],
        })),
      ),
    );
    if (why.excluded.length) {
      parts.push(h("h3", {}, "Excluded"), h("ul", {}, why.excluded.map((e) => h("li", {}, `${e.address}: ${e.reason}`))));
    }
  }
  if (data.redirect) {
    const r = data.redirect;
    parts.push(
      h("h3", {}, "HTTP redirect"),
      h("dl", { class: "kv", id: "explain-redirect" },
        h("dt", {}, "Status"), h("dd", {}, String(r.status)),
        h("dt", {}, "Location"), h("dd", {}, r.location || r.reason),
        r.alternates.length ? [h("dt", {}, "Alternates"), h("dd", {}, r.alternates.map((a) => `${a.pri}: ${a.url}`).join(", "))] : null),
    );
  }
  parts.push(h("details", {}, h("summary", {}, "Raw JSON"), h("pre", {}, JSON.stringify(data, null, 2))));
  return h("section", { class: "card" }, parts);
}

function auditView(params) {
  let pool = params.get("pool") || "";
  let actor = params.get("token") || "";
  let cursor = null;
  const list = h("div", {});
  const form = h(
    "form",
    { class: "inline" },
    h("div", {}, h("label", { for: "au-pool" }, "Pool"), h("input", { id: "au-pool", value: pool, placeholder: "www.example.com." })),
    h("div", {}, h("label", { for: "au-token" }, "Token"), h("input", { id: "au-token", value: actor, placeholder: "token name" })),
    h("button", { type: "submit" }, "Filter"),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    pool = document.getElementById("au-pool").value.trim();
    actor = document.getElementById("au-token").value.trim();
    cursor = null;
    view.refresh();
  });
  mount(h("section", { class: "card" }, h("h2", {}, "Audit trail, newest first"), form), list);
  const view = {
    title: "Audit",
    async refresh() {
      const query = new URLSearchParams({ limit: "50" });
      if (pool) query.set("target", `pools/${pool.endsWith(".") ? pool : `${pool}.`}`);
      if (actor) query.set("actor", actor);
      if (cursor) query.set("cursor", cursor);
      const { data } = await api("GET", `/api/v1/audit?${query}`);
      list.replaceChildren(
        h(
          "section",
          { class: "card" },
          table(
            [{ label: "When" }, { label: "Token" }, { label: "Action" }, { label: "Target" }, { label: "Change" }],
            data.entries.map((e) => ({
              attrs: { "data-audit": e.id },
              cells: [new Date(e.at).toLocaleString(), e.actor, e.action, e.target, h("details", {}, h("summary", {}, "before / after"), h("pre", {}, JSON.stringify({ before: e.before, after: e.after }, null, 2)))],
            })),
          ),
          h("div", { class: "pager" }, data.next ? h("button", { type: "button", onclick: () => { cursor = new URL(data.next, location.href).searchParams.get("cursor"); view.refresh(); } }, "Older") : null),
        ),
      );
    },
  };
  return view;
}

function tokensView() {
  const list = h("div", {});
  const issued = h("div", {});
  const form = h(
    "form",
    { class: "inline" },
    h("div", {}, h("label", { for: "tk-name" }, "Name"), h("input", { id: "tk-name", required: true, placeholder: "probe-eu1" })),
    h("div", {}, h("label", { for: "tk-role" }, "Role"), h("select", { id: "tk-role" }, ["reader", "prober", "editor", "admin"].map((r) => h("option", {}, r)))),
    h("button", { type: "submit" }, "Issue token"),
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      const body = { name: document.getElementById("tk-name").value.trim(), role: document.getElementById("tk-role").value };
      const { data } = await api("POST", "/api/v1/tokens", { body });
      issued.replaceChildren(h("p", {}, `Token ${data.name} (${data.role}), shown only now: `, h("code", {}, data.token)));
      await view.refresh();
    } catch (error) {
      issued.replaceChildren(h("p", { class: "error" }, error.message));
    }
  });
  mount(h("section", { class: "card" }, h("h2", {}, "API tokens"), form, issued), list);
  const view = {
    title: "Tokens",
    async refresh() {
      const { data } = await api("GET", "/api/v1/tokens");
      list.replaceChildren(
        h(
          "section",
          { class: "card" },
          table(
            [{ label: "Name" }, { label: "Role" }, { label: "Created" }, { label: "By" }, { label: "" }],
            data.tokens.map((t) => ({
              cells: [t.name, t.role, new Date(t.created_at).toLocaleString(), t.created_by,
                t.name === session.name ? h("span", { class: "muted" }, "this session") :
                  h("button", { type: "button", onclick: async () => {
                    if (!confirm(`Revoke token ${t.name}? Requests carrying it fail from now on.`)) return;
                    try { await api("DELETE", `/api/v1/tokens/${encodeURIComponent(t.name)}`); } catch (error) { showProblem(error.message); }
                    await view.refresh();
                  } }, "Revoke")],
            })),
          ),
        ),
      );
    },
  };
  return view;
}

// -- routing and refreshing ------------------------------------------------------------

function route() {
  const [path, query] = (location.hash.slice(1) || "/").split("?");
  const params = new URLSearchParams(query || "");
  if (path.startsWith("/pools/")) return ["overview", poolView(decodeURIComponent(path.slice(7)))];
  if (path === "/explain") return ["explain", explainView()];
  if (path === "/audit" && session.role === "admin") return ["audit", auditView(params)];
  if (path === "/tokens" && session.role === "admin") return ["tokens", tokensView()];
  return ["overview", overviewView()];
}

async function tick() {
  const view = current;
  if (!view || !view.refresh || !session.token) return;
  try {
    await view.refresh();
    if (view !== current) return;
    setStatus(`Updated ${new Date().toLocaleTimeString()}; refreshes every ${REFRESH_MS / 1000} s.`);
    if (document.getElementById("problem").dataset.kind === "fetch") {
      showProblem("");
      delete document.getElementById("problem").dataset.kind;
    }
  } catch (error) {
    if (!session.token) return;
    const el = document.getElementById("problem");
    showProblem(`Could not refresh: ${error.message}. Showing what was loaded last.`);
    el.dataset.kind = "fetch";
  }
}

function render() {
  clearInterval(timer);
  const signedIn = Boolean(session.token);
  showChrome(signedIn);
  if (!signedIn) {
    document.getElementById("token").focus();
    return;
  }
  const [tab, view] = route();
  current = view;
  document.title = `${view.title} \u2013 geodns console`;
  for (const link of document.querySelectorAll("#nav a")) {
    if (link.dataset.view === tab) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  showProblem("");
  tick();
  if (view.refresh) timer = setInterval(tick, REFRESH_MS);
}

document.addEventListener("DOMContentLoaded", () => {
  document.getElementById("sign-in-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = document.getElementById("token");
    const error = document.getElementById("sign-in-error");
    error.textContent = "";
    try {
      await signIn(input.value.trim());
      input.value = "";
      render();
    } catch (failure) {
      session.token = null;
      error.textContent = failure.status === 401 ? "That token is unknown or revoked." : `Sign-in failed: ${failure.message}`;
    }
  });
  document.getElementById("sign-out").addEventListener("click", () => signOut(""));
  window.addEventListener("hashchange", render);
  render();
});
