// docs.js - the /docs page: fetches /openapi.json from the node that served
// it and renders every operation (parameters, request body, responses and
// what it needs with auth on). No dependencies and nothing from elsewhere:
// the page's Content-Security-Policy allows this origin only, so all
// styling is set from here through the DOM, never inline markup.

const STYLE = {
  body: "font: 15px/1.45 system-ui, sans-serif; max-width: 60rem; margin: 2rem auto; padding: 0 1rem; color: #1d2330",
  code: "font-family: ui-monospace, monospace; background: #f1f3f7; padding: 0 .25em; border-radius: 3px",
  op: "border: 1px solid #d5d9e2; border-radius: 6px; margin: .6rem 0; padding: .2rem .8rem",
  method: "display: inline-block; min-width: 4.5em; font-weight: 700; font-family: ui-monospace, monospace",
  table: "border-collapse: collapse; margin: .4rem 0 .8rem",
  cell: "border-top: 1px solid #e3e6ec; padding: .25rem .7rem .25rem 0; vertical-align: top; text-align: left",
  pre: "font: 13px ui-monospace, monospace; background: #f6f7f9; padding: .6rem; overflow-x: auto; border-radius: 4px",
  note: "color: #5b6475",
};
const METHOD_COLOR = { get: "#1b6ac9", post: "#18864b", delete: "#b3261e" };

// el("p", {style: ...}, child, "text", ...) -> Element
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (name === "style") node.style.cssText = value;
    else node.setAttribute(name, value);
  }
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

// The descriptions use `code` spans, rendered as such; the rest is text.
function prose(text) {
  const out = el("span");
  String(text || "").split("`").forEach((part, i) => {
    out.append(i % 2 ? el("code", { style: STYLE.code }, part) : part);
  });
  return out;
}

function resolve(doc, obj) {
  let seen = 0;
  while (obj && obj.$ref && seen++ < 16) {
    obj = obj.$ref
      .replace(/^#\//, "")
      .split("/")
      .map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"))
      .reduce((o, k) => (o ? o[k] : undefined), doc);
  }
  return obj || {};
}

// A schema as a short JSON-like sketch: object members with their types.
function sketch(doc, schema, depth = 0) {
  const s = resolve(doc, schema);
  const pad = "  ".repeat(depth);
  if (depth > 4) return "…";
  if (s.const !== undefined) return JSON.stringify(s.const);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  const types = [].concat(s.type || (s.properties ? "object" : "any"));
  if (types.includes("object") && s.properties) {
    const req = new Set(s.required || []);
    const lines = Object.entries(s.properties).map(([name, sub]) => {
      const r = resolve(doc, sub);
      const bounds = [r.minimum !== undefined ? `≥ ${r.minimum}` : "", r.maximum !== undefined ? `≤ ${r.maximum}` : ""]
        .filter(Boolean)
        .join(", ");
      const note = [req.has(name) ? "" : "optional", bounds].filter(Boolean).join("; ");
      return `${pad}  "${name}": ${sketch(doc, sub, depth + 1)}${note ? "  // " + note : ""}`;
    });
    return `{\n${lines.join(",\n")}\n${pad}}${types.includes("null") ? " | null" : ""}`;
  }
  if (types.includes("array")) return `[${sketch(doc, s.items || {}, depth)}, …]`;
  return types.join(" | ") + (s.format ? ` (${s.format})` : "");
}

function paramTable(doc, params) {
  if (!params.length) return null;
  return el(
    "table",
    { style: STYLE.table },
    el("tr", {}, ["name", "in", "required", "schema", ""].map((h) => el("th", { style: STYLE.cell }, h))),
    params.map((p0) => {
      const p = resolve(doc, p0);
      return el(
        "tr",
        {},
        el("td", { style: STYLE.cell }, el("code", { style: STYLE.code }, p.name)),
        el("td", { style: STYLE.cell }, p.in),
        el("td", { style: STYLE.cell }, p.required ? "yes" : "no"),
        el("td", { style: STYLE.cell }, sketch(doc, p.schema || {})),
        el("td", { style: STYLE.cell }, prose(p.description))
      );
    })
  );
}

function responses(doc, all) {
  return el(
    "table",
    { style: STYLE.table },
    Object.entries(all || {}).map(([status, r0]) => {
      const r = resolve(doc, r0);
      const content = Object.entries(r.content || {});
      const headers = Object.keys(r.headers || {});
      return el(
        "tr",
        {},
        el("td", { style: STYLE.cell }, el("strong", {}, status)),
        el(
          "td",
          { style: STYLE.cell },
          prose(r.description),
          headers.length ? el("div", { style: STYLE.note }, "headers: " + headers.join(", ")) : null,
          content.map(([type, c]) =>
            el(
              "details",
              {},
              el("summary", { style: STYLE.note }, type),
              el("pre", { style: STYLE.pre }, sketch(doc, c.schema || {}) +
                (c.example ? "\n\nexample: " + JSON.stringify(c.example) : ""))
            )
          )
        )
      );
    })
  );
}

function operation(doc, path, method, item, op) {
  const params = [...(item.parameters || []), ...(op.parameters || [])];
  const secured = (op.security || doc.security || []).some((req) => Object.keys(req).length);
  const body = op.requestBody ? resolve(doc, op.requestBody) : null;
  const flags = [];
  if (secured) flags.push(`auth on: needs ${op["x-switchboard-grant"] || "a token"}`);
  if (op["x-switchboard-web-client"]) flags.push("browser client");
  return el(
    "details",
    { style: STYLE.op, id: op.operationId || `${method}-${path}` },
    el(
      "summary",
      {},
      el("span", { style: `${STYLE.method}; color: ${METHOD_COLOR[method] || "#444"}` }, method.toUpperCase()),
      " ",
      el("code", { style: STYLE.code }, path),
      " — ",
      op.summary || "",
      flags.length ? el("span", { style: STYLE.note }, ` (${flags.join("; ")})`) : null
    ),
    el("p", {}, prose(op.description)),
    params.length ? [el("h4", {}, "Parameters"), paramTable(doc, params)] : null,
    body
      ? [
          el("h4", {}, "Request body" + (body.required ? "" : " (optional)")),
          el("p", {}, prose(body.description)),
          Object.entries(body.content || {}).map(([type, c]) => [
            el("div", { style: STYLE.note }, type),
            el("pre", { style: STYLE.pre }, sketch(doc, c.schema || {})),
          ]),
        ]
      : null,
    el("h4", {}, "Responses"),
    responses(doc, op.responses)
  );
}

function render(doc) {
  const main = document.getElementById("api");
  main.replaceChildren(
    el("h1", {}, `${doc.info.title} ${doc.info.version}`),
    el("p", {}, prose(doc.info.summary)),
    el("p", {}, prose(doc.info.description)),
    el("p", { style: STYLE.note }, "OpenAPI ", doc.openapi, ": ", el("a", { href: "/openapi.json" }, "/openapi.json"))
  );
  const byTag = new Map((doc.tags || []).map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(doc.paths || {})) {
    for (const method of ["get", "post", "put", "patch", "delete"]) {
      const op = item[method];
      if (!op) continue;
      const tag = (op.tags || ["other"])[0];
      if (!byTag.has(tag)) byTag.set(tag, []);
      byTag.get(tag).push(operation(doc, path, method, item, op));
    }
  }
  for (const [tag, ops] of byTag) if (ops.length) main.append(el("h2", {}, tag), ...ops);
  const schemes = Object.entries((doc.components || {}).securitySchemes || {});
  if (schemes.length) {
    main.append(
      el("h2", {}, "Security"),
      ...schemes.map(([name, s]) =>
        el("p", {}, el("strong", {}, name), ` (${s.type}${s.scheme ? " " + s.scheme : ""}${s.in ? " in " + s.in : ""}): `, prose(s.description))
      )
    );
  }
  // /docs#createRoom opens that operation.
  const target = location.hash && document.getElementById(decodeURIComponent(location.hash.slice(1)));
  if (target) {
    target.open = true;
    target.scrollIntoView();
  }
}

document.body.style.cssText = STYLE.body;
fetch("/openapi.json")
  .then((r) => {
    if (!r.ok) throw new Error(`/openapi.json answered ${r.status}`);
    return r.json();
  })
  .then(render)
  .catch((e) => {
    document.getElementById("api").append(el("p", { style: "color: #b3261e" }, `Cannot load the API description: ${e.message}`));
  });
