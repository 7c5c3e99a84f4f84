// Sandlot's GraphQL explorer: a query editor, variables, headers and the result, plus the schema
// read by introspection. Plain JavaScript, no dependencies, nothing fetched but the endpoint.
(function () {
  "use strict";
  const endpoint = __ENDPOINT__;
  const $ = (id) => document.getElementById(id);
  const store = window.localStorage;
  $("endpoint").textContent = endpoint;
  $("query").value = store.getItem("sandlot.query") || "{\n  __typename\n}\n";
  $("variables").value = store.getItem("sandlot.variables") || "";
  $("auth").value = store.getItem("sandlot.auth") || "";

  function operations() {
    const names = [];
    const pattern = /\b(query|mutation|subscription)\s+([_A-Za-z][_0-9A-Za-z]*)/g;
    let found;
    while ((found = pattern.exec($("query").value)) !== null) names.push(found[2]);
    const select = $("operation");
    const chosen = select.value;
    select.innerHTML = '<option value="">(first)</option>' +
      names.map((n) => `<option${n === chosen ? " selected" : ""}>${n}</option>`).join("");
  }

  async function post(body) {
    const headers = { "content-type": "application/json", accept: "application/graphql-response+json, application/json" };
    if ($("auth").value.trim()) headers.authorization = $("auth").value.trim();
    if ($("scenario").value.trim()) headers["sandlot-scenario"] = $("scenario").value.trim();
    const started = performance.now();
    const response = await fetch(endpoint, { method: "POST", headers, body: JSON.stringify(body) });
    const text = await response.text();
    return { response, text, ms: Math.round(performance.now() - started) };
  }

  async function run() {
    store.setItem("sandlot.query", $("query").value);
    store.setItem("sandlot.variables", $("variables").value);
    store.setItem("sandlot.auth", $("auth").value);
    let variables = null;
    if ($("variables").value.trim()) {
      try { variables = JSON.parse($("variables").value); } catch (e) {
        $("status").textContent = "Variables are not JSON: " + e.message; return;
      }
    }
    const body = { query: $("query").value, variables };
    if ($("operation").value) body.operationName = $("operation").value;
    $("status").textContent = "running...";
    try {
      const { response, text, ms } = await post(body);
      $("status").textContent = `${response.status} ${response.statusText} in ${ms} ms (${response.headers.get("content-type")})`;
      try { $("result").textContent = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { $("result").textContent = text; }
    } catch (e) {
      $("status").textContent = "request failed: " + e.message;
    }
  }

  function typeName(t) {
    if (!t) return "";
    if (t.kind === "NON_NULL") return typeName(t.ofType) + "!";
    if (t.kind === "LIST") return "[" + typeName(t.ofType) + "]";
    return t.name;
  }

  async function loadSchema() {
    const query = "{ __schema { queryType { name } mutationType { name } subscriptionType { name } " +
      "types { name kind description fields { name args { name type { ...T } } type { ...T } } inputFields { name type { ...T } } enumValues { name } } } }" +
      " fragment T on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }";
    try {
      const { text } = await post({ query });
      const schema = JSON.parse(text).data.__schema;
      const roots = [schema.queryType, schema.mutationType, schema.subscriptionType].filter(Boolean).map((t) => t.name);
      const rank = (t) => (roots.indexOf(t.name) > -1 ? roots.indexOf(t.name) : roots.length);
      const types = schema.types.filter((t) => !t.name.startsWith("__"))
        .sort((a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name));
      render(types);
      $("filter").addEventListener("input", () => render(types));
    } catch (e) {
      $("types").textContent = "The schema could not be read: " + e.message;
    }
  }

  function render(types) {
    const filter = $("filter").value.toLowerCase();
    const root = $("types");
    root.innerHTML = "";
    for (const t of types.filter((t) => t.name.toLowerCase().includes(filter)).slice(0, 300)) {
      const details = document.createElement("details");
      const summary = document.createElement("summary");
      summary.textContent = `${t.name} (${t.kind.toLowerCase()})`;
      details.appendChild(summary);
      const members = t.fields || t.inputFields || (t.enumValues || []).map((v) => ({ name: v.name }));
      for (const f of members) {
        const line = document.createElement("div");
        line.className = "field";
        const args = (f.args || []).map((a) => `${a.name}: ${typeName(a.type)}`).join(", ");
        line.textContent = f.name + (args ? `(${args})` : "") + (f.type ? ": " + typeName(f.type) : "");
        line.addEventListener("click", () => {
          const editor = $("query");
          const at = editor.selectionStart;
          editor.value = editor.value.slice(0, at) + f.name + " " + editor.value.slice(at);
          operations();
        });
        details.appendChild(line);
      }
      root.appendChild(details);
    }
  }

  $("run").addEventListener("click", run);
  $("query").addEventListener("input", operations);
  document.addEventListener("keydown", (e) => { if ((e.ctrlKey || e.metaKey) && e.key === "Enter") run(); });
  operations();
  loadSchema();
})();
