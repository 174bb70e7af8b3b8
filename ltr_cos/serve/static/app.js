// ltr_cos explorer: plain JavaScript and SVG, no library, works offline.
"use strict";

const S = { config: null, front: null, weights: [], beta: null, query: 0, live: null, chosen: null,
            busy: false, dirty: false, version: 0 };
const $ = (id) => document.getElementById(id);
const SVGNS = "http://www.w3.org/2000/svg";

async function api(path, body) {
  const init = body === undefined ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) };
  const response = await fetch(path, init);
  const data = await response.json();
  if (!response.ok) {
    const detail = (data.detail || []).map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ");
    throw new Error(detail || response.statusText);
  }
  return data;
}

const fmt = (v, digits = 4) => (v === null || v === undefined ? "n/a" : Number(v).toFixed(digits));

function el(tag, attrs = {}, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS(SVGNS, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

// ------------------------------------------------------------------ weights and beta
function setWeight(i, value) {
  // move one weight, scale the others so the vector stays on the simplex
  const w = S.weights, m = w.length;
  value = Math.min(1, Math.max(0, value));
  const rest = w.reduce((a, b, j) => (j === i ? a : a + b), 0);
  for (let j = 0; j < m; j++) {
    if (j === i) continue;
    w[j] = rest > 0 ? (w[j] * (1 - value)) / rest : (1 - value) / (m - 1);
  }
  w[i] = value;
  const total = w.reduce((a, b) => a + b, 0);
  for (let j = 0; j < m; j++) w[j] /= total;
}

function showWeights() {
  const names = S.config.weighted_objectives;
  names.forEach((name, i) => {
    $(`weight-${i}`).value = S.weights[i].toFixed(2);
    $(`weight-${i}-value`).textContent = S.weights[i].toFixed(2);
  });
  $("weights").dataset.weights = JSON.stringify(S.weights);
}

function buildWeights() {
  const names = S.config.weighted_objectives;
  const box = $("weights");
  if (!S.config.needs_weights) { box.textContent = "this model takes no weights"; return; }
  S.weights = names.map(() => 1 / names.length);
  names.forEach((name, i) => {
    const row = el("div", { class: "slider" });
    const label = el("label", { for: `weight-${i}` });
    label.append(el("span", {}, `w ${name}`), el("output", { id: `weight-${i}-value` }));
    const input = el("input", { type: "range", id: `weight-${i}`, min: "0", max: "1", step: "0.01",
                                 "aria-label": `weight of ${name}` });
    if (names.length === 1) input.disabled = true;
    input.addEventListener("input", () => { setWeight(i, Number(input.value)); showWeights(); changed(); });
    row.append(label, input);
    box.append(row);
  });
  showWeights();
}

function buildBeta() {
  const c = S.config;
  if (!c.needs_beta || !c.beta_range) return;
  $("beta-box").hidden = false;
  const [lo, hi] = c.beta_range.map(Math.log);
  const start = c.default_beta ?? Math.min(Math.max(1, c.beta_range[0]), c.beta_range[1]);
  const slider = $("beta");
  const toBeta = (t) => Math.exp(lo + ((hi - lo) * t) / 1000);
  S.setBeta = (beta) => {
    S.beta = beta;
    slider.value = String(Math.round(((Math.log(beta) - lo) / (hi - lo || 1)) * 1000));
    $("beta-value").textContent = beta.toPrecision(3);
  };
  S.setBeta(start);
  slider.addEventListener("input", () => { S.beta = toBeta(Number(slider.value));
    $("beta-value").textContent = S.beta.toPrecision(3); changed(); });
}

// ------------------------------------------------------------------ live evaluation
function changed() {
  S.chosen = S.chosen && sameWeights(S.chosen.weights, S.weights) ? S.chosen : null;
  if (!S.config.split) { drawFront(); markDone(); return; }
  if (S.busy) { S.dirty = true; return; }
  evaluate();
}

async function evaluate() {
  S.busy = true; S.dirty = false;
  const body = { query: S.query };
  if (S.config.needs_weights) body.weights = S.weights.slice();
  if (S.config.needs_beta) body.beta = S.beta;
  try {
    const result = await api("/explorer/evaluate", body);
    S.live = result;
    renderQuery(result);
    renderSplit(result.split_ndcg);
    drawFront();
    const status = $("status");
    status.textContent = `query ${result.query.qid}, ${result.query.candidates} candidates`;
    // what the shown numbers were computed for (read by tests)
    status.dataset.weights = JSON.stringify(result.weights);
    status.dataset.beta = String(result.beta);
    status.dataset.query = String(result.query.index);
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
  S.busy = false;
  if (S.dirty) { evaluate(); return; }
  markDone();
}

function markDone() {
  S.version++;
  $("status").dataset.version = String(S.version);
}

function ndcgTable(table, values) {
  const body = table.tBodies[0];
  body.replaceChildren();
  for (const [name, value] of Object.entries(values)) {
    const row = el("tr");
    row.append(el("td", { class: "name" }, name),
               el("td", { "data-objective": name, "data-value": value === null ? "" : String(value) }, fmt(value)));
    body.append(row);
  }
}

function renderSplit(values) { ndcgTable($("split-ndcg"), values); }

function renderQuery(result) {
  ndcgTable($("query-ndcg"), result.query_ndcg);
  const names = S.config.objective_names;
  const head = $("ranked").tHead;
  head.replaceChildren();
  const hr = el("tr");
  hr.append(el("th", {}, "rank"), el("th", {}, "doc"), el("th", {}, "score"),
            ...names.map((n) => el("th", {}, n)));
  head.append(hr);
  const body = $("ranked").tBodies[0];
  body.replaceChildren();
  result.ranked.forEach((item, r) => {
    const row = el("tr", { "data-doc": String(item.doc), "data-score": String(item.score) });
    row.append(el("td", {}, String(r + 1)), el("td", {}, String(item.doc)), el("td", {}, fmt(item.score)),
               ...names.map((n) => el("td", { "data-objective": n }, String(item.labels[n]))));
    body.append(row);
  });
}

// ------------------------------------------------------------------ front
function sameWeights(a, b) {
  return a && b && a.length === b.length && a.every((v, i) => Math.abs(v - b[i]) < 1e-6);
}

function nearestRow() {
  const rows = S.front.rows;
  let best = null, bestD = Infinity;
  for (const row of rows) {
    let d = row.weights.reduce((a, v, i) => a + Math.abs(v - (S.weights[i] ?? 0)), 0);
    if (S.beta !== null && row.beta !== null) d += Math.abs(Math.log(row.beta) - Math.log(S.beta));
    if (d < bestD) { bestD = d; best = row; }
  }
  return best;
}

function currentPoint() {
  if (S.live) return S.live.split_ndcg;
  const row = nearestRow();
  return row ? row.ndcg : null;
}

function shownRows() {
  // a profile over several betas: show the grid of the beta nearest the current one
  const rows = S.front.rows;
  const betas = [...new Set(rows.map((r) => r.beta).filter((b) => b !== null))];
  if (betas.length < 2 || S.beta === null) return rows;
  const near = betas.reduce((a, b) => (Math.abs(Math.log(b / S.beta)) < Math.abs(Math.log(a / S.beta)) ? b : a));
  return rows.filter((r) => r.beta === near);
}

function panel(group, x0, y0, size, xName, yName, showAxes, xTicks = false, yTicks = false) {
  const rows = shownRows();
  const ref = S.front.reference_point;
  const cur = currentPoint();
  const range = (name) => {
    const v = rows.map((r) => r.ndcg[name]).filter((x) => x !== null);
    if (ref && ref[name] !== undefined) v.push(ref[name]);
    if (cur && cur[name] !== null) v.push(cur[name]);
    const lo = Math.min(...v), hi = Math.max(...v), pad = (hi - lo) * 0.08 || 0.05;
    return [lo - pad, hi + pad, pad];
  };
  const [ax, bx, padx] = range(xName), [ay, by, pady] = range(yName);
  const px = (v) => x0 + ((v - ax) / (bx - ax)) * size;
  const py = (v) => y0 + size - ((v - ay) / (by - ay)) * size;
  group.append(svg("rect", { x: x0, y: y0, width: size, height: size, fill: "none", class: "axis" }));
  if (showAxes) {
    group.append(svg("text", { x: x0 + size / 2, y: y0 + size + 24, "text-anchor": "middle" }, `NDCG@${S.front.k} ${xName}`));
    group.append(svg("text", { x: x0 - 44, y: y0 + size / 2, "text-anchor": "middle",
                               transform: `rotate(-90 ${x0 - 44} ${y0 + size / 2})` }, `NDCG@${S.front.k} ${yName}`));
    for (const t of [ax + padx, (ax + bx) / 2, bx - padx]) {
      group.append(svg("text", { x: px(t), y: y0 + size + 12, "text-anchor": "middle" }, t.toFixed(3)));
    }
    for (const t of [ay + pady, (ay + by) / 2, by - pady]) {
      group.append(svg("text", { x: x0 - 4, y: py(t) + 3, "text-anchor": "end" }, t.toFixed(3)));
    }
  }
  if (xTicks) {
    group.append(svg("text", { x: x0, y: y0 + size + 11, "text-anchor": "start" }, (ax + padx).toFixed(2)));
    group.append(svg("text", { x: x0 + size, y: y0 + size + 11, "text-anchor": "end" }, (bx - padx).toFixed(2)));
  }
  if (yTicks) {
    group.append(svg("text", { x: x0 - 3, y: y0 + size, "text-anchor": "end" }, (ay + pady).toFixed(2)));
    group.append(svg("text", { x: x0 - 3, y: y0 + 8, "text-anchor": "end" }, (by - pady).toFixed(2)));
  }
  for (const row of rows) {
    if (row.ndcg[xName] === null || row.ndcg[yName] === null) continue;
    const chosen = S.chosen && S.chosen.row === row.row;
    const c = svg("circle", { cx: px(row.ndcg[xName]), cy: py(row.ndcg[yName]), r: 3.5,
                              class: `pt${row.on_front ? " front" : ""}${chosen ? " chosen" : ""}` });
    c.append(svg("title", {}, `w=(${row.weights.map((w) => w.toFixed(2)).join(", ")})` +
      (row.beta !== null ? ` beta=${row.beta}` : "") +
      Object.entries(row.ndcg).map(([n, v]) => `\n${n}: ${fmt(v)}`).join("")));
    group.append(c);
  }
  if (ref && ref[xName] !== undefined) {
    group.append(svg("rect", { x: px(ref[xName]) - 4, y: py(ref[yName]) - 4, width: 8, height: 8, class: "ref" }));
  }
  if (cur && cur[xName] !== null && cur[yName] !== null) {
    group.append(svg("circle", { cx: px(cur[xName]), cy: py(cur[yName]), r: 7, class: "current",
                                 id: `current-${xName}-${yName}` }));
  }
}

function drawFront() {
  if (!S.front) return;
  const names = S.front.weighted;
  const box = $("front");
  box.replaceChildren();
  if (names.length <= 2) {
    const [xName, yName] = names.length === 2 ? names : [S.front.objectives[0], names[0]];
    const root = svg("svg", { width: 400, height: 360, id: "front-svg" });
    panel(root, 64, 10, 300, xName, yName, true);
    box.append(root);
  } else {
    // scatter matrix over the weighted objectives: lower triangle, names on the diagonal
    const m = names.length, cell = Math.min(130, Math.floor(380 / m)), left = 34;
    const root = svg("svg", { width: m * cell + left + 10, height: m * cell + 24, id: "front-svg" });
    names.forEach((name, i) => {
      root.append(svg("text", { x: left + i * cell + cell / 2, y: 10 + i * cell + cell / 2, "text-anchor": "middle" }, name));
      for (let j = 0; j < i; j++) {
        panel(root, left + j * cell + 4, 10 + i * cell + 4, cell - 8, names[j], name, false, i === m - 1, j === 0);
      }
    });
    box.append(root);
  }
  $("front-caption").textContent = `(${shownRows().length} grid rows` +
    (S.front.split ? `, ${S.front.split} split` : "") + `, NDCG@${S.front.k})`;
}

// ------------------------------------------------------------------ finder
function buildFinder() {
  $("finder-off").hidden = true;
  $("finder-form").hidden = false;
  const select = $("maximize");
  S.front.objectives.forEach((n) => select.append(el("option", { value: n }, n)));
  select.value = S.front.weighted[0];
  const bounds = () => {
    $("bounds").replaceChildren();
    for (const n of S.front.objectives) {
      if (n === select.value) continue;
      const label = el("label", {}, `${n} ≥ `);
      label.append(el("input", { type: "number", step: "0.01", min: "0", max: "1", id: `bound-${n}`,
                                 "data-objective": n, placeholder: "any" }));
      $("bounds").append(label);
    }
  };
  select.addEventListener("change", bounds);
  bounds();
  $("find").addEventListener("click", async () => {
    const constraints = [...document.querySelectorAll("#bounds input")]
      .filter((i) => i.value !== "").map((i) => ({ objective: i.dataset.objective, bound: Number(i.value) }));
    const out = $("finder-result");
    try {
      const result = await api("/explorer/select", { maximize: select.value, constraints });
      out.replaceChildren();
      out.className = result.found ? "" : "none";
      if (!result.found) { out.textContent = result.message; S.chosen = null; drawFront(); return; }
      S.chosen = { row: result.row, weights: Object.values(result.weights) };
      out.append(el("div", {}, `weights ${Object.entries(result.weights).map(([n, w]) => `${n}=${w}`).join(", ")}` +
        (result.beta !== null ? `, beta ${result.beta}` : "")),
        el("div", {}, Object.entries(result.ndcg).map(([n, v]) => `${n} ${fmt(v)}`).join(", ")),
        el("div", { class: "muted" }, `${result.n_feasible} grid rows qualify`));
      const use = el("button", { type: "button", id: "use-point" }, "Use this point");
      use.addEventListener("click", () => {
        S.weights = Object.values(result.weights);
        if (result.beta !== null && S.setBeta && S.config.needs_beta) S.setBeta(result.beta);
        showWeights(); changed();
      });
      out.append(use);
      drawFront();
    } catch (err) { out.className = "none"; out.textContent = err.message; }
  });
}

// ------------------------------------------------------------------ start
async function start() {
  try {
    S.config = await api("/explorer/config");
    const c = S.config;
    $("artifact").textContent = `${c.artifact.format} artifact ${String(c.artifact.sha256).slice(0, 12)}…, ` +
      `ltr_cos ${c.artifact.ltr_cos_version}; objectives ${c.objective_names.join(", ")}`;
    document.querySelectorAll(".k").forEach((n) => { n.textContent = String(c.k); });
    $("tolerance").textContent = "weights are kept on the simplex (they sum to 1)";
    buildWeights();
    buildBeta();
    if (c.has_front) { S.front = await api("/explorer/front"); buildFinder(); drawFront(); }
    if (c.split) {
      $("query-off").hidden = true;
      $("query-box").hidden = false;
      const { queries } = await api("/explorer/queries");
      const picker = $("query");
      queries.forEach((q) => picker.append(el("option", { value: String(q.index) },
        `qid ${q.qid} (${q.candidates} docs)`)));
      picker.addEventListener("change", () => { S.query = Number(picker.value); changed(); });
    }
    changed();
  } catch (err) {
    $("status").textContent = `error: ${err.message}`;
  }
}

start();
