// The Sandlot inspector: the request journal of this stub, live, and the tenant's sandbox controls.
// Served by the stub itself at /__sandlot/ui (sandlot/http/ui/, package data; no build step, no CDN).
// Everything goes through the admin API under /__sandlot/ with the token or key typed in (kept in
// sessionStorage for this tab only). Data is always inserted as text, never as HTML.

const API = "/__sandlot";
const state = {
  token: sessionStorage.getItem("sandlot.token") || "",
  tenant: sessionStorage.getItem("sandlot.tenant") || "",
  admin: false, stateful: false, ownTenant: null,
  entries: new Map(), selected: null, paused: false, lastId: 0, tail: null,
};

const $ = (id) => document.getElementById(id);

function headers(extra = {}) {
  const h = { ...extra };
  if (state.token) h.authorization = `Bearer ${state.token}`;
  return h;
}

// The tenant the sandbox controls act on: the one typed in, else the caller's own.
function tenantParams(params = new URLSearchParams()) {
  if (state.admin && state.tenant) params.set("tenant", state.tenant);
  return params;
}

async function api(method, path, { params, body, tenant = true } = {}) {
  const query = tenant ? tenantParams(params) : (params || new URLSearchParams());
  const url = `${API}/${path}${query.toString() ? `?${query}` : ""}`;
  const init = { method, headers: headers(body ? { "content-type": "application/json" } : {}) };
  if (body) init.body = JSON.stringify(body);
  const response = await fetch(url, init);
  const text = await response.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch { data = text; }
  if (!response.ok) {
    const detail = data && data.detail ? data.detail : `${response.status} ${response.statusText}`;
    throw new Error(detail);
  }
  return data;
}

function say(id, text, failed = false) {
  const el = $(id);
  el.textContent = text;
  el.classList.toggle("error", failed);
}

function filterParams() {
  const form = new FormData($("filters"));
  const params = new URLSearchParams();
  for (const [name, value] of form.entries()) if (value) params.set(name, value);
  return params;
}

// -- the journal table ---------------------------------------------------------------------
function statusClass(status) {
  return status >= 500 ? "s5" : status >= 400 ? "s4" : status >= 300 ? "s3" : "s2";
}

function row(entry) {
  const tr = document.createElement("tr");
  tr.dataset.id = entry.id;
  tr.className = statusClass(entry.status) + (entry.validation_errors ? " has-errors" : "");
  const time = new Date(entry.at * 1000).toLocaleTimeString();
  const open = document.createElement("button");
  open.type = "button";
  open.className = "link";
  open.textContent = time;
  open.setAttribute("aria-label", `Open request ${entry.id}: ${entry.method} ${entry.path}, status ${entry.status}`);
  open.addEventListener("click", () => showDetail(entry.id));
  const cells = [open, entry.tenant, entry.method, entry.url, String(entry.status), entry.duration_ms.toFixed(1),
    entry.operation || "–", entry.scenario || "", entry.validation_errors ? String(entry.validation_errors) : ""];
  for (const value of cells) {
    const td = document.createElement("td");
    if (value instanceof Node) td.append(value); else td.textContent = value;
    tr.append(td);
  }
  return tr;
}

function addEntries(entries, atTop) {
  const body = $("requests").tBodies[0];
  for (const entry of entries) {
    if (state.entries.has(entry.id)) continue;
    state.entries.set(entry.id, entry);
    state.lastId = Math.max(state.lastId, entry.id);
    const tr = row(entry);
    if (atTop) body.prepend(tr); else body.append(tr);
  }
  const n = state.entries.size;
  $("requests-count").textContent = n ? `${n} request${n === 1 ? "" : "s"}, newest first` : "No requests yet";
}

async function loadJournal() {
  state.entries.clear();
  $("requests").tBodies[0].replaceChildren();
  const params = filterParams();
  params.set("limit", "200");
  const data = await api("GET", "requests", { params });
  addEntries(data.requests, false);
  startTail();
}

// -- the live tail: server-sent events read with fetch (EventSource cannot send a token) ------
function startTail() {
  if (state.tail) state.tail.abort();
  if (state.paused) { say("live-status", "Live tail paused"); return; }
  const controller = new AbortController();
  state.tail = controller;
  const params = tenantParams(filterParams());
  params.set("after", String(state.lastId));
  fetch(`${API}/requests/stream?${params}`, { headers: headers(), signal: controller.signal })
    .then(async (response) => {
      if (!response.ok) throw new Error(`${response.status}`);
      say("live-status", "Live: new requests appear as they arrive");
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const data = block.split("\n").filter((l) => l.startsWith("data: ")).map((l) => l.slice(6)).join("\n");
          if (data) addEntries([JSON.parse(data)], true);
        }
      }
      if (!controller.signal.aborted) setTimeout(startTail, 1000);
    })
    .catch((err) => {
      if (controller.signal.aborted) return;
      say("live-status", `Live tail lost (${err.message}); retrying`, true);
      setTimeout(startTail, 2000);
    });
}

// -- one request in detail -------------------------------------------------------------------
function fillHeaders(id, map) {
  const dl = $(id);
  dl.replaceChildren();
  for (const [name, value] of Object.entries(map)) {
    const dt = document.createElement("dt"); dt.textContent = name;
    const dd = document.createElement("dd"); dd.textContent = value;
    dl.append(dt, dd);
  }
}

function bodyText(part) {
  if (part.binary) return `(${part.size} bytes of binary data)`;
  if (part.json !== null && part.json !== undefined) return JSON.stringify(part.json, null, 2);
  return part.body + (part.truncated ? `\n… (${part.size} bytes in all; the journal keeps the first part)` : "");
}

async function showDetail(id) {
  const entry = await api("GET", `requests/${id}`, { tenant: false, params: tenantParams() });
  state.selected = entry;
  $("detail").hidden = false;
  $("detail-heading").textContent = `#${entry.id} ${entry.method} ${entry.url} → ${entry.status}`;
  say("action-result", `${entry.time} · tenant ${entry.tenant} · ${entry.operation || "no documented operation"}` +
      ` · ${entry.duration_ms} ms` + (entry.scenario ? ` · scenario ${entry.scenario}` : "") +
      (entry.replay_of ? ` · replay of #${entry.replay_of}` : ""));
  $("snippet").hidden = true;
  fillHeaders("req-headers", entry.request.headers);
  fillHeaders("resp-headers", entry.response.headers);
  $("req-body").textContent = bodyText(entry.request);
  $("resp-body").textContent = bodyText(entry.response);
  const why = entry.explanation;
  $("explanation").hidden = !why;
  $("violations").replaceChildren();
  $("closest").replaceChildren();
  $("closest-heading").hidden = true;
  if (why) {
    $("explanation-summary").textContent = why.summary;
    for (const v of why.errors || []) {
      const li = document.createElement("li");
      li.className = "violation";
      const where = document.createElement("code");
      where.textContent = `${v.location}${v.pointer || ""}`;
      li.append(where, `: ${v.message}`);
      if (v.rule) {
        const rule = document.createElement("span");
        rule.className = "rule";
        rule.textContent = ` (rule ${v.rule})`;
        li.append(rule);
      }
      $("violations").append(li);
    }
    for (const r of why.closest || []) {
      const li = document.createElement("li");
      li.textContent = `${r.method} ${r.path}${r.operation ? ` (${r.operation})` : ""}`;
      $("closest").append(li);
      $("closest-heading").hidden = false;
    }
  }
  $("detail-heading").focus();
}

function shellQuote(text) { return `'${String(text).replace(/'/g, "'\\''")}'`; }

function curlOf(entry) {
  const parts = ["curl", "-X", entry.method, shellQuote(`${location.origin}${entry.url}`)];
  for (const [name, value] of Object.entries(entry.request.headers)) {
    if (["host", "content-length", "connection"].includes(name)) continue;
    // The journal never keeps secrets: put the caller's own key back from the environment.
    const shown = value.includes("[redacted]") ? value.replace("[redacted]", "$SANDLOT_KEY") : value;
    parts.push("-H", value.includes("[redacted]") ? `"${name}: ${shown}"` : shellQuote(`${name}: ${value}`));
  }
  if (entry.request.body) parts.push("--data-raw", shellQuote(entry.request.body));
  return parts.join(" ");
}

async function copyCurl() {
  const text = curlOf(state.selected);
  $("snippet").hidden = false;
  $("snippet").textContent = text;
  try {
    await navigator.clipboard.writeText(text);
    say("action-result", "Copied the curl command (secrets are $SANDLOT_KEY: set it first).");
  } catch {
    say("action-result", "The curl command is below; copy it from there.");
  }
}

async function replay() {
  const entry = state.selected;
  try {
    const result = await api("POST", `requests/${entry.id}/replay`, { tenant: false, params: tenantParams() });
    say("action-result", `Replayed #${entry.id}: status ${result.status}, recorded as #${result.id}.`);
    if (result.request) addEntries([result.request], true);
  } catch (err) { say("action-result", `Replay failed: ${err.message}`, true); }
}

function download(name, text, type) {
  const link = $("download");
  link.href = URL.createObjectURL(new Blob([text], { type }));
  link.download = name;
  link.click();
}

async function saveSnippet(kind) {
  const entry = state.selected;
  try {
    const data = await api("GET", `requests/${entry.id}/${kind}`, { tenant: false, params: tenantParams() });
    $("snippet").hidden = false;
    $("snippet").textContent = data.yaml;
    const where = kind === "example" ? `goes at ${data.pointer} in the spec` : `fixtures for ${data.collection}`;
    say("action-result", `Saved ${kind === "example" ? "example" : "fixture"} #${entry.id} (${where}).`);
    download(`sandlot-${kind}-${entry.id}.yaml`, data.yaml, "application/yaml");
  } catch (err) { say("action-result", `Cannot save as ${kind}: ${err.message}`, true); }
}

// -- the sandbox: clock, sticky scenario, webhooks, reset ---------------------------------------
async function loadClock() {
  try {
    const clock = await api("GET", "clock");
    $("clock-now").textContent = clock.iso;
    $("clock-now").dateTime = clock.iso;
    $("clock-offset").textContent = clock.offset_seconds ? `(+${clock.offset_seconds} s ahead)` : "(real time)";
  } catch (err) { $("clock-now").textContent = `– (${err.message})`; }
}

async function loadScenarios() {
  const select = $("sticky-name");
  if (!select.options.length) {
    const known = await api("GET", "scenarios", { tenant: false });
    for (const name of [...Object.keys(known.builtin), ...Object.keys(known.named)]) {
      const option = document.createElement("option");
      option.textContent = name;
      select.append(option);
    }
  }
  try {
    const sticky = (await api("GET", "scenario")).scenario;
    $("sticky-now").textContent = sticky ? `${sticky.name}${sticky.operations.length ? ` on ${sticky.operations.join(", ")}` : ""}` : "none";
  } catch (err) { $("sticky-now").textContent = `– (${err.message})`; }
}

async function loadDeliveries() {
  const list = $("deliveries");
  try {
    const data = await api("GET", "webhooks/deliveries");
    list.replaceChildren();
    if (!data.deliveries.length) {
      const li = document.createElement("li"); li.className = "muted"; li.textContent = "No deliveries yet";
      list.append(li);
    }
    for (const d of data.deliveries) {
      const li = document.createElement("li");
      const title = document.createElement("p");
      title.textContent = `${d.event_type} → ${d.url} · ${d.state} (${d.source})`;
      const attempts = document.createElement("ul");
      for (const a of d.attempts) {
        const item = document.createElement("li");
        item.textContent = `attempt ${a.number}: ${a.status ?? a.error} in ${a.duration_ms} ms` +
          (a.signature ? ` · signature ${a.signature}` : "");
        attempts.append(item);
      }
      const resend = document.createElement("button");
      resend.type = "button";
      resend.textContent = "Resend";
      resend.setAttribute("aria-label", `Resend ${d.event_type} delivery ${d.delivery_id}`);
      resend.addEventListener("click", async () => {
        try {
          await api("POST", `webhooks/deliveries/${d.delivery_id}/resend`);
          say("sandbox-result", `Resent ${d.event_type}.`);
          setTimeout(loadDeliveries, 500);
        } catch (err) { say("sandbox-result", `Resend failed: ${err.message}`, true); }
      });
      li.append(title, attempts, resend);
      list.append(li);
    }
  } catch (err) { list.replaceChildren(); say("sandbox-result", `Deliveries: ${err.message}`, true); }
}

function loadSandbox() {
  const who = state.admin ? (state.tenant || (state.stateful ? "" : "public")) : state.ownTenant;
  $("sandbox-tenant").textContent = who ? `(tenant ${who})` : "(choose a tenant above)";
  if (!who) return;
  loadClock(); loadScenarios(); loadDeliveries();
}

// -- start -------------------------------------------------------------------------------------
async function connect() {
  try {
    const me = await api("GET", "whoami", { tenant: false });
    state.admin = me.admin; state.stateful = me.stateful; state.ownTenant = me.tenant;
    if (!me.journal) say("live-status", "This stub keeps no journal (--no-journal)", true);
    if (state.admin && state.stateful) {
      const list = $("tenant-list");
      list.replaceChildren();
      for (const t of (await api("GET", "tenants", { tenant: false })).tenants) {
        const option = document.createElement("option"); option.value = t.tenant_id; list.append(option);
      }
    }
    await loadJournal();
    loadSandbox();
  } catch (err) {
    say("live-status", `Not connected: ${err.message}. Enter the admin token or a sandbox key.`, true);
    $("token").focus();
  }
}

function init() {
  const fromUrl = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromUrl) {
    state.token = fromUrl;
    sessionStorage.setItem("sandlot.token", fromUrl);
    history.replaceState(null, "", location.pathname);  // the token leaves the address bar
  }
  $("token").value = state.token;
  $("tenant").value = state.tenant;
  $("auth-form").addEventListener("submit", (event) => {
    event.preventDefault();
    state.token = $("token").value.trim();
    state.tenant = $("tenant").value.trim();
    sessionStorage.setItem("sandlot.token", state.token);
    sessionStorage.setItem("sandlot.tenant", state.tenant);
    connect();
  });
  $("filters").addEventListener("submit", (event) => { event.preventDefault(); loadJournal(); });
  $("filters").addEventListener("reset", () => setTimeout(loadJournal, 0));
  $("pause").addEventListener("click", () => {
    state.paused = !state.paused;
    $("pause").setAttribute("aria-pressed", String(state.paused));
    $("pause").textContent = state.paused ? "Resume live tail" : "Pause live tail";
    if (state.paused && state.tail) state.tail.abort();
    if (!state.paused) loadJournal(); else say("live-status", "Live tail paused");
  });
  $("export-har").addEventListener("click", async () => {
    const params = filterParams(); params.set("format", "har"); params.set("limit", "1000");
    const har = await api("GET", "requests", { params });
    download("sandlot-requests.har", JSON.stringify(har, null, 2), "application/json");
    say("live-status", `Exported ${har.log.entries.length} requests as HAR`);
  });
  $("clear-journal").addEventListener("click", async () => {
    if (!confirm("Delete the recorded requests shown here?")) return;
    const result = await api("DELETE", "requests");
    say("live-status", `Deleted ${result.deleted} recorded requests`);
    loadJournal();
  });
  $("copy-curl").addEventListener("click", copyCurl);
  $("replay").addEventListener("click", replay);
  $("save-example").addEventListener("click", () => saveSnippet("example"));
  $("save-fixture").addEventListener("click", () => saveSnippet("fixture"));
  $("close-detail").addEventListener("click", () => { $("detail").hidden = true; });
  $("clock-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api("POST", "clock/advance", { body: { by: $("advance-by").value } });
      say("sandbox-result", `Clock advanced by ${$("advance-by").value}.`);
      loadClock();
    } catch (err) { say("sandbox-result", `Cannot advance the clock: ${err.message}`, true); }
  });
  $("sticky-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const operations = $("sticky-operations").value.split(",").map((s) => s.trim()).filter(Boolean);
    try {
      await api("PUT", "scenario", { body: { scenario: $("sticky-name").value, operations } });
      say("sandbox-result", `Sticky scenario ${$("sticky-name").value} is on.`);
      loadScenarios();
    } catch (err) { say("sandbox-result", `Cannot set the scenario: ${err.message}`, true); }
  });
  $("sticky-off").addEventListener("click", async () => {
    await api("DELETE", "scenario");
    say("sandbox-result", "Sticky scenario is off.");
    loadScenarios();
  });
  $("refresh-hooks").addEventListener("click", loadDeliveries);
  $("reset").addEventListener("click", async () => {
    if (!confirm("Reset this tenant to its seed?")) return;
    try {
      const done = await api("POST", "reset");
      say("sandbox-result", `Tenant ${done.tenant} reset: ${done.objects} seeded objects.`);
      loadSandbox();
    } catch (err) { say("sandbox-result", `Reset failed: ${err.message}`, true); }
  });
  connect();
}

init();
