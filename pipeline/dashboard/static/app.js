// The dashboard page: follows /api/stream (server-sent events) for what its filters select (the
// server filters, sorts and pages; every list comes newest first and bounded): the whole view
// first, then what changed. Without EventSource it asks /api/state every 2 s. Every value from the
// topics goes into the page as text (textContent), never as HTML, inside its own bidirectional
// isolate, with its direction controls made visible.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173"];
const SVG_NS = "http://www.w3.org/2000/svg";
const PAGE = 100;
let snapshot = null;
let sort = { key: "reply_rate", dir: "asc" };
let offset = 0;
let reportChoice = "";      // the group whose report the user picked; "" = the filtered group's, or the newest
let source = null;
let requested = "";
let me = null;              // who is logged in (/api/me): name, role, can_decide, csrf
let selectedId = null;      // the violation the decision panel shows
let selectedIndex = 0;      // its place in the queue, so the next one is chosen when it leaves
let external = null;        // a violation chosen from the feed (not in the queue)
const sent = {};            // violation id → the decision this page sent
const LABELS = ["work", "chitchat", "ad", "rumour", "abuse", "confidential", "illegal"];

// ---------------------------------------------------------------- values as text
// Embedding, override and isolate controls (U+202A-202E, U+2066-2069) would let a name reorder
// what is shown around it or disguise itself (g-\u202Egnp.exe reading as g-exe.png): shown as
// visible marks instead. Every value also sits in its own isolate (<bdi>, or FSI...PDI where no
// element can be used), so right-to-left text never pulls its neighbours along.
const CONTROLS = /[\u202A-\u202E\u2066-\u2069]/g;
function shown(value) {
  return value == null ? "" : String(value).replace(CONTROLS,
    (c) => `[U+${c.charCodeAt(0).toString(16).toUpperCase()}]`);
}
function clipped(text, max) { return text.length > max ? `${text.slice(0, max - 1)}…` : text; }
function isolated(value, max) { return `\u2068${clipped(shown(value), max || 80)}\u2069`; }
// A value in the page: isolated, cut to the width of its cell by CSS, whole in its tooltip.
function v(value, cls) {
  const text = shown(value);
  return el("bdi", { class: cls || "v", text, title: text });
}

// ---------------------------------------------------------------- small helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, val] of Object.entries(attrs || {})) {
    if (k === "class") node.className = val;
    else if (k === "text") node.textContent = val;
    else if (k === "bg") node.style.background = val;
    else if (k === "width") node.style.width = val;
    else node.setAttribute(k, val);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}
function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, val] of Object.entries(attrs || {})) node.setAttribute(k, val);
  return node;
}
function ruleColour(rule) {
  let h = 0;
  for (const c of String(rule)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}
function ruleBadge(rule) { return el("span", { class: "rule", text: shown(rule), bg: ruleColour(rule) }); }
function shortTime(ts) {
  if (!ts) return "";
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d)/.exec(ts);
  return m ? `${m[2]}-${m[3]} ${m[4]}` : shown(ts);
}
function duration(seconds) {
  if (seconds == null) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
function percent(rate) { return rate == null ? "–" : `${Math.round(rate * 100)}%`; }
function count(n) { return n == null ? "–" : Number(n).toLocaleString("en"); }
function memberLabel(m) { return (m && (m.name || m.id)) || "—"; }
function groupName(id) {
  const g = snapshot.groups.find((x) => x.id === id) || snapshot.report_groups.find((x) => x.id === id);
  return g && g.name;
}
// "name (id)" for drop-downs, which can hold text only: each part isolated and shortened.
function groupOption(id) {
  const name = groupName(id);
  return name ? `${isolated(name, 40)} (${isolated(id, 40)})` : isolated(id, 60);
}
// The same as elements, for headings.
function groupTitle(id) {
  const name = groupName(id);
  return name ? el("span", {}, v(name), " (", v(id), ")") : v(id);
}
function setOptions(select, values, keepFirst, labelOf) {
  // Rebuild only when the choices change, so an open drop-down is not disturbed by live updates.
  const have = [...select.options].slice(keepFirst ? 1 : 0).map((o) => o.value);
  if (have.length === values.length && have.every((x, i) => x === values[i])) return;
  const current = select.value;
  while (select.options.length > (keepFirst ? 1 : 0)) select.remove(select.options.length - 1);
  for (const x of values) select.append(el("option", { value: x, text: labelOf ? labelOf(x) : isolated(x) }));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}

// ---------------------------------------------------------------- the view asked of the server
function viewQuery() {
  const q = new URLSearchParams();
  const put = (k, x, dflt) => { if (x !== dflt) q.set(k, x); };
  put("group", document.getElementById("f-group").value, "");
  put("rule", document.getElementById("f-rule").value, "");
  put("severity", document.getElementById("f-severity").value, "");
  put("member", document.getElementById("f-member").value.trim().toLowerCase().slice(0, 100), "");
  put("escalations", document.getElementById("f-escalations").checked ? "1" : "0", "1");
  put("window", document.getElementById("r-window").value, "day");
  put("sort", sort.key, "reply_rate");
  put("dir", sort.dir, "asc");
  put("report", reportChoice, "");
  put("offset", String(offset), "0");
  put("limit", String(PAGE), "100");
  put("rgroup", document.getElementById("q-group").value, "");
  put("rlabel", document.getElementById("q-label").value, "");
  put("rage", document.getElementById("q-age").value, "0");
  return q.toString();
}

// ---------------------------------------------------------------- sections
function renderStatus(status) {
  const node = document.getElementById("status");
  if (!status) { node.className = "status down"; node.textContent = "no connection to the dashboard"; return; }
  const bad = status.bad_records ? ` · ${count(status.bad_records)} bad records skipped` : "";
  if (status.connected) {
    node.className = "status ok";
    node.replaceChildren(`live · ${count(status.records)} records from `, v(status.bootstrap), bad);
  } else {
    node.className = "status waiting";
    node.replaceChildren("waiting for Kafka at ", v(status.bootstrap), status.error ? " (" : "",
      status.error ? v(status.error) : "", status.error ? ")" : "", bad);
  }
}

function renderSummary() {
  const t = snapshot.totals;
  const groups = t.groups_dropped ? `groups (${count(t.groups_dropped)} quiet ones let go)` : "groups";
  const cards = [
    ["violations", t.kinds.violation || 0, ""],
    ["severe", t.severities.severe || 0, "severe"],
    ["escalations", t.kinds.escalation || 0, ""],
    ["to supervisor", t.levels.supervisor || 0, "severe"],
    ["removal recommended", t.levels.removal_recommended || 0, ""],
    ["messages classified", t.kinds.verdict || 0, ""],
    [groups, t.groups, ""],
    ["rejected input (DLQ)", t.kinds.rejected || 0, ""],
    ["notifications sent", (t.deliveries || {}).sent || 0, ""],
    ["notifications failed", (t.deliveries || {}).failed || 0, (t.deliveries || {}).failed ? "severe" : ""],
  ];
  const box = document.getElementById("summary");
  box.replaceChildren(...cards.map(([label, n, cls]) =>
    el("div", { class: `card ${cls}` }, el("div", { class: "n", text: count(n) }), el("div", { class: "l", text: label }))));
}

function renderFilters() {
  setOptions(document.getElementById("f-group"), snapshot.groups.map((g) => g.id), true, groupOption);
  setOptions(document.getElementById("f-rule"), [...snapshot.rules].sort(ruleOrder), true);
  setOptions(document.getElementById("report-group"), snapshot.report_groups.map((g) => g.id), false, groupOption);
}
function ruleOrder(a, b) {
  const pa = /^([A-Z])(\d+)$/.exec(a), pb = /^([A-Z])(\d+)$/.exec(b);
  if (pa && pb && pa[1] === pb[1]) return Number(pa[2]) - Number(pb[2]);
  return String(a).localeCompare(String(b));
}

function renderFeed() {
  const feed = snapshot.feed;
  const body = document.querySelector("#feed tbody");
  body.replaceChildren(...feed.items.map((item) => {
    const what = item.kind === "escalation"
      ? el("span", { class: `level ${item.level}`, text: item.level.replace(/_/g, " ") })
      : el("span", { text: "violation" });
    const notes = feedNotes(item);
    return el("tr", { "data-kind": item.kind, "data-group": item.group_id, "data-rule": item.rule, "data-id": item.id || "",
      class: item.retracted ? "retracted" : "" },
      el("td", { class: "time", text: shortTime(item.ts), title: item.ts || "" }),
      el("td", {}, v(item.group_id)),
      el("td", {}, what, ...notes),
      el("td", {}, ruleBadge(item.rule)),
      el("td", { class: `sev ${item.severity || ""}`, text: item.severity || "" }),
      el("td", {}, v(memberLabel(item.member))),
      el("td", { class: "excerpt" }, v(item.excerpt, "wrap")),
      el("td", { class: "detail" }, v(item.detail, "wrap")));
  }));
  const kinds = Object.entries(feed.by_kind).map(([k, n]) => `${count(n)} ${k}${n === 1 ? "" : "s"}`).join(", ");
  const from = feed.source === "severe" ? "severe cases" : `the newest ${count(feed.kept)}`;
  const dropped = feed.dropped ? `; ${count(feed.dropped)} older ${feed.source === "severe" ? "severe cases" : "ones"} let go` : "";
  document.getElementById("feed-count").textContent = feed.total
    ? `${count(feed.offset + 1)}–${count(feed.offset + feed.items.length)} of ${count(feed.total)} (${kinds}) from ${from}${dropped}`
    : `none of ${from}${dropped}`;
  document.getElementById("feed-empty").hidden = feed.items.length > 0;
  document.getElementById("feed-newer").disabled = feed.offset === 0;
  document.getElementById("feed-older").disabled = feed.offset + feed.items.length >= feed.total;
}

// What was decided about a feed item, and a way to decide about a content violation.
function feedNotes(item) {
  const out = [];
  if (item.retracted) {
    out.push(el("span", { class: "badge retracted", text: "retracted", title: shown(item.retracted.reason || "") }));
  }
  if (item.kind === "violation") {
    if (item.decision) {
      out.push(el("span", { class: `badge ${item.decision.decision}`,
        text: `${item.decision.decision}${item.decision.new_label ? ` → ${item.decision.new_label}` : ""}`,
        title: `by ${shown(item.decision.reviewer)}` }));
    } else if (item.review === "required") {
      out.push(el("span", { class: "badge waiting", text: "waiting for review" }));
    }
    if (item.label && me && me.can_decide) {
      const button = el("button", { type: "button", class: "decide-from-feed", text: "decide…",
        "data-id": item.id || "" });
      button.addEventListener("click", () => { external = item; selectedId = item.id; renderQueue();
        document.getElementById("review").scrollIntoView({ block: "start" }); });
      out.push(button);
    }
  }
  return out.map((x) => [" ", x]).flat();
}

// ---------------------------------------------------------------- the review queue
function ago(ts) {
  const t = Date.parse(ts);
  if (Number.isNaN(t)) return "";
  return duration(Math.max(0, (Date.now() - t) / 1000));
}

function queueItems() { return snapshot && snapshot.reviews ? snapshot.reviews.items : []; }

function selected() {
  if (external && external.id === selectedId) {
    // the feed's newest copy of it, with what was decided since
    const fresh = snapshot && snapshot.feed.items.find((i) => i.id === selectedId);
    if (fresh) external = fresh;
    return external;
  }
  return queueItems().find((i) => i.id === selectedId) || null;
}

function renderQueue() {
  const reviews = snapshot.reviews;
  setOptions(document.getElementById("q-group"), Object.keys(reviews.groups).sort(), true, groupOption);
  setOptions(document.getElementById("q-label"), LABELS.filter((l) => l !== "work"), true);
  const items = reviews.items;
  if (!selected()) {
    external = null;
    selectedId = items.length ? items[Math.min(selectedIndex, items.length - 1)].id : null;
  }
  const at = items.findIndex((i) => i.id === selectedId);
  if (at >= 0) selectedIndex = at;
  const body = document.querySelector("#queue tbody");
  body.replaceChildren(...items.map((item) => {
    const row = el("tr", { "data-id": item.id, "data-group": item.group_id, "data-label": item.label || "",
      class: `${item.id === selectedId ? "selected" : ""} ${item.awaiting || sent[item.id] ? "sent" : ""}` },
      el("td", { class: "time", text: ago(item.ts), title: item.ts || "" }),
      el("td", {}, v(item.group_name || item.group_id)),
      el("td", {}, v(memberLabel(item.member))),
      el("td", {}, v(item.label)),
      el("td", { class: "num", text: item.score == null ? "–" : item.score.toFixed(2) }),
      el("td", { class: "excerpt" }, v(item.excerpt, "wrap")));
    row.addEventListener("click", () => { external = null; selectedId = item.id; renderQueue(); });
    return row;
  }));
  const dropped = reviews.dropped ? `; ${count(reviews.dropped)} older ones let go past ${count(reviews.kept)}` : "";
  document.getElementById("queue-count").textContent = reviews.waiting
    ? `${count(reviews.total)} shown of ${count(reviews.waiting)} waiting, oldest first${dropped}` : dropped.slice(2);
  document.getElementById("queue-empty").hidden = items.length > 0;
  renderDecision(selected());
}

function renderDecision(item) {
  const pane = document.getElementById("decision");
  pane.hidden = !item;
  if (!item) return;
  pane.dataset.id = item.id;
  document.getElementById("d-title").replaceChildren(ruleBadge(item.rule), " ", v(item.label || "–"), " · ",
    v(item.group_name || item.group_id), " · ", v(memberLabel(item.member)),
    el("span", { class: "time", text: ` · ${shortTime(item.ts)}` }));
  document.getElementById("d-excerpt").replaceChildren(v(item.excerpt || "(no excerpt)", "wrap"));
  const scores = Object.entries(item.scores || (item.score != null ? { [item.label]: item.score } : {}))
    .sort((a, b) => b[1] - a[1]).slice(0, 7);
  document.getElementById("d-scores").replaceChildren(...scores.map(([label, score]) =>
    el("div", { class: "score" }, el("span", { class: "l", text: shown(label) }),
      el("span", { class: "bar", width: `${Math.round(score * 120)}px` }), el("span", { text: ` ${score.toFixed(2)}` }))));
  document.getElementById("d-reasons").replaceChildren(...(item.reasons || []).map((r) => el("li", {}, v(r, "wrap"))));
  const h = item.history;
  const history = document.getElementById("d-history");
  if (h) {
    const rules = Object.entries(h.rules).sort((a, b) => ruleOrder(a[0], b[0])).map(([r, n]) => `${shown(r)} ${n}`).join(", ");
    history.replaceChildren(el("div", { text: `In this group: ${rules || "no violations"}; ${count(h.escalations)} escalation${h.escalations === 1 ? "" : "s"}` }),
      ...h.recent.map((x) => el("div", { class: "recent" }, el("span", { class: "time", text: shortTime(x.ts) }), " ",
        ruleBadge(x.rule), " ", v(x.label || ""), x.decision ? ` · ${x.decision}` : "")));
  } else {
    history.replaceChildren(el("div", { text: "No earlier violations of this member in this group that the dashboard keeps." }));
  }
  const state = document.getElementById("d-state");
  const waiting = item.decision ? null
    : item.awaiting || (sent[item.id] ? { decision: sent[item.id], reviewer: me && me.display_name } : null);
  state.replaceChildren(
    waiting ? el("div", { class: "badge waiting", text: `${waiting.decision}, sent by ${shown(waiting.reviewer)}; waiting for the worker to record it` }) : "",
    item.decision ? el("div", { class: "badge", text: `${item.decision.decision} by ${shown(item.decision.reviewer)}` }) : "",
    item.retracted ? el("div", { class: "badge retracted", text: "its escalation was retracted" }) : "");
  const relabel = document.getElementById("relabel-label");
  setOptions(relabel, LABELS.filter((l) => l !== item.label), false);
  const canDecide = Boolean(me && me.can_decide);
  for (const id of ["decide-confirm", "decide-dismiss", "decide-relabel", "relabel-label", "note"]) {
    document.getElementById(id).disabled = !canDecide;
  }
  document.getElementById("decide-confirm").disabled = !canDecide || item.review !== "required";
  if (!canDecide) setDecisionStatus(`You are logged in as ${me ? me.role : "?"}: you can read the queue, not decide.`, "info");
}

function setDecisionStatus(text, kind) {
  const node = document.getElementById("decision-status");
  node.textContent = text;
  node.className = `decision-status ${kind || ""}`;
}

async function decide(decision) {
  const item = selected();
  if (!item || !me || !me.can_decide) return;
  const body = { violation_id: item.id, decision };
  if (decision === "relabelled") body.label = document.getElementById("relabel-label").value;
  const note = document.getElementById("note").value.trim();
  if (note) body.note = note;
  if (decision === "confirmed" && item.review !== "required") return;
  setDecisionStatus("sending…", "info");
  let response;
  try {
    response = await fetch("/api/decisions", { method: "POST", cache: "no-store", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": me.csrf }, body: JSON.stringify(body) });
  } catch (err) {
    setDecisionStatus("The dashboard did not answer; the decision may not be recorded. Try again.", "error");
    return;
  }
  if (response.status === 401) { window.location.assign("/login"); return; }
  let answer = {};
  try { answer = await response.json(); } catch (err) { answer = {}; }
  if (!response.ok) {
    setDecisionStatus(answer.error || `refused (${response.status})`, "error");
    return;
  }
  sent[item.id] = decision;
  document.getElementById("note").value = "";
  setDecisionStatus(`Done: ${decision}${body.label ? ` as ${body.label}` : ""}. The broker has it; it leaves the queue ` +
    "when the worker has recorded it.", "ok");
  document.body.dataset.decided = item.id;
  renderQueue();
}

function moveSelection(step) {
  const items = queueItems();
  if (!items.length) return;
  const at = items.findIndex((i) => i.id === selectedId);
  const next = Math.max(0, Math.min(items.length - 1, (at < 0 ? 0 : at + step)));
  external = null;
  selectedId = items[next].id;
  selectedIndex = next;
  renderQueue();
  const row = document.querySelector(`#queue tbody tr.selected`);
  if (row) row.scrollIntoView({ block: "nearest" });
}

function onKey(e) {
  if (e.ctrlKey || e.metaKey || e.altKey) return;
  const tag = (e.target && e.target.tagName) || "";
  if (["INPUT", "TEXTAREA", "SELECT"].includes(tag)) {
    if (e.key === "Escape") e.target.blur();
    if (e.key === "Enter" && e.target.id === "relabel-label") { e.preventDefault(); e.target.blur(); decide("relabelled"); }
    return;
  }
  // r only chooses the new label: Enter (or the button) relabels, so no key relabels by surprise.
  const actions = { j: () => moveSelection(1), k: () => moveSelection(-1), c: () => decide("confirmed"),
    d: () => decide("dismissed"), r: () => document.getElementById("relabel-label").focus(),
    n: () => document.getElementById("note").focus() };
  const action = actions[e.key];
  if (action) { e.preventDefault(); action(); }
}

// Stacked bars: one bar per time bucket (hour, or day when the span is long), one colour per rule.
function renderCharts() {
  const box = document.getElementById("charts");
  box.replaceChildren(...snapshot.charts.map(chart));
  if (!snapshot.charts.length) box.replaceChildren(el("p", { class: "empty", text: "No violations to chart yet." }));
}
function chart(data) {
  const buckets = data.buckets;
  const rules = Object.keys(data.totals).sort(ruleOrder);
  const W = 560, H = 180, left = 28, bottom = 30, top = 8;
  const max = Math.max(1, ...buckets.map(([, c]) => rules.reduce((s, r) => s + (c[r] || 0), 0)));
  const plotW = W - left - 8, plotH = H - top - bottom;
  const step = plotW / Math.max(1, buckets.length);
  const barW = Math.max(2, Math.min(40, step * 0.7));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `violations by rule over time in ${isolated(data.group_id)}` });
  for (const frac of [0, 0.5, 1]) {
    const y = top + plotH * (1 - frac);
    root.append(svg("line", { x1: left, x2: W - 8, y1: y, y2: y, stroke: "#e3e6eb" }));
    const label = svg("text", { x: left - 4, y: y + 3, "text-anchor": "end" });
    label.textContent = String(Math.round(max * frac));
    root.append(label);
  }
  buckets.forEach(([bucket, counts], i) => {
    const x = left + i * step + (step - barW) / 2;
    let y = top + plotH;
    for (const r of rules) {
      const n = counts[r] || 0;
      if (!n) continue;
      const h = (n / max) * plotH;
      y -= h;
      const rect = svg("rect", { x, y, width: barW, height: h, fill: ruleColour(r) });
      const tip = svg("title", {});
      tip.textContent = `${isolated(bucket)} · ${isolated(r)}: ${n}`;
      rect.append(tip);
      root.append(rect);
    }
    const every = Math.ceil(buckets.length / 8);
    if (i % every === 0) {
      const label = svg("text", { x: x + barW / 2, y: H - bottom + 14, "text-anchor": "middle" });
      label.textContent = data.span === "day" ? shortTime(`${bucket}T00:00`).slice(0, 5) : shortTime(bucket).slice(0, 11);
      root.append(label);
    }
  });
  const legend = el("div", { class: "legend" }, ...rules.map((r) =>
    el("span", {}, el("span", { class: "sw", bg: ruleColour(r) }), el("span", { text: `${shown(r)} ${data.totals[r]}` }))));
  return el("div", { class: "chart", "data-group": data.group_id }, el("h3", {}, groupTitle(data.group_id)), root, legend);
}

function renderResponsiveness() {
  const table = snapshot.responsiveness;
  const who = (r) => r.scope === "group" ? "（全群 whole group）" : memberLabel(r.member);
  const body = document.querySelector("#responsiveness tbody");
  body.replaceChildren(...table.rows.map((r) => el("tr", { class: `${r.overdue ? "overdue" : ""} ${r.scope}` },
    el("td", {}, v(who(r))),
    el("td", {}, v(r.group_id)),
    el("td", { class: "time", text: shortTime(r.window.start) }),
    el("td", { class: "num", text: count(r.addressed) }),
    el("td", { class: "num", text: count(r.replied) }),
    el("td", { class: "num", text: percent(r.reply_rate) }),
    el("td", { class: "num", text: duration(r.median_reply_seconds) }),
    el("td", { class: "num", text: duration(r.p90_reply_seconds) }),
    el("td", { class: "num", text: count(r.overdue) }))));
  for (const th of document.querySelectorAll("#responsiveness th")) {
    th.classList.toggle("asc", th.dataset.key === sort.key && sort.dir === "asc");
    th.classList.toggle("desc", th.dataset.key === sort.key && sort.dir === "desc");
  }
  document.getElementById("responsiveness-count").textContent =
    table.total > table.rows.length ? `first ${count(table.rows.length)} of ${count(table.total)}` : "";
  document.getElementById("responsiveness-empty").hidden = table.rows.length > 0;
}

function renderFollowups() {
  const f = snapshot.followups;
  const body = document.querySelector("#followups tbody");
  body.replaceChildren(...f.items.map((item) => el("tr", { class: item.overdue ? "overdue" : "" },
    el("td", {}, v(item.group_id)),
    el("td", {}, v(item.what)),
    el("td", {}, v(item.who)),
    el("td", { class: "time", text: shortTime(item.since) }),
    el("td", { class: "time", text: shortTime(item.due) }),
    el("td", { class: "detail" }, v(item.detail, "wrap"), item.recipients ? " → " : "",
      item.recipients ? v(item.recipients, "wrap") : ""))));
  const dropped = f.dropped ? ` (${count(f.dropped)} let go past ${count(f.kept)})` : "";
  document.getElementById("followups-count").textContent = f.total
    ? `${f.total > f.items.length ? `newest ${count(f.items.length)} of ` : ""}${count(f.total)}${dropped}` : dropped;
  document.getElementById("followups-empty").hidden = f.items.length > 0;
}

function renderReport() {
  const report = snapshot.report;
  const select = document.getElementById("report-group");
  const box = document.getElementById("report");
  document.getElementById("report-empty").hidden = Boolean(report);
  select.hidden = !report;
  if (!report) { box.replaceChildren(); return; }
  if (select.value !== report.group_id && [...select.options].some((o) => o.value === report.group_id)) {
    select.value = report.group_id;
  }
  const blocks = [];
  const period = report.period || {};
  blocks.push(block("Period", kv([["group", report.group_name || report.group_id],
    ["kind", period.kind], ["from", shortTime(period.start)], ["to", shortTime(period.end)]])));
  if (report.violations) {
    const byRule = Object.entries(report.violations.by_rule || {}).sort((a, b) => ruleOrder(a[0], b[0]));
    const max = Math.max(1, ...byRule.map(([, n]) => n));
    blocks.push(block(`Violations: ${report.violations.total ?? 0}`, el("div", {}, ...byRule.map(([rule, n]) =>
      el("div", {}, ruleBadge(rule), el("span", { text: ` ${n}` }), el("span", { class: "bar", width: `${(n / max) * 120}px` }))))));
  }
  if (report.responsiveness) {
    const r = report.responsiveness;
    blocks.push(block("Responsiveness", kv([["addressed", r.addressed], ["replied", r.replied], ["overdue", r.overdue],
      ["median reply", duration(r.median_reply_seconds)], ["p90 reply", duration(r.p90_reply_seconds)]])));
  }
  if (report.activity) {
    const a = report.activity;
    const more = a.owners_total > Object.keys(a.owners).length ? [["more owners", a.owners_total - Object.keys(a.owners).length]] : [];
    blocks.push(block("Activity", kv([["messages", a.messages], ["active members", a.active_members],
      ...Object.entries(a.owners).map(([o, n]) => [`owner ${shown(o)}`, `${n} messages`]), ...more])));
  }
  for (const [key, title] of [["problems", "Problems (C5)"], ["rectifications", "Rectifications (D4)"],
    ["urgent_posts", "Urgent posts (P10/P11)"]]) {
    if (report[key]) blocks.push(block(title, kv(Object.entries(report[key]))));
  }
  if (report.announcements) {
    const a = report.announcements;
    blocks.push(block("Announcements (P7)", el("div", {}, ...a.first.map((x) =>
      el("div", {}, v(x.title || x.announcement_id), `: ${x.acknowledged ?? "?"}/${x.audience ?? "?"} read` + (x.open ? " (open)" : ""))),
      a.total > a.first.length ? el("div", { class: "more", text: `and ${a.total - a.first.length} more` }) : null)));
  }
  if (report.inactive_members) {
    const m = report.inactive_members;
    blocks.push(block(`Inactive members: ${m.total}`, el("div", {}, ...m.first.map((x) =>
      el("div", {}, v(memberLabel(x)), ` · silent ${x.silent_days ?? "?"} days`)),
      m.total > m.first.length ? el("div", { class: "more", text: `and ${m.total - m.first.length} more` }) : null)));
  }
  box.replaceChildren(el("div", { class: "report-grid" }, ...blocks));
}
function block(title, content) { return el("div", { class: "block" }, el("h3", { text: title }), content); }
function kv(pairs) {
  const dl = el("dl", { class: "kv" });
  for (const [k, x] of pairs) {
    if (x === undefined) continue;
    dl.append(el("dt", {}, v(k)), el("dd", {}, v(x == null ? "–" : typeof x === "object" ? JSON.stringify(x) : x)));
  }
  return dl;
}

function renderOps() {
  const s = snapshot.status || {};
  const t = snapshot.totals;
  const reasons = (o) => Object.entries(o || {}).map(([r, n]) => `${r} ${count(n)}`).join(", ") || "none";
  document.getElementById("ops").replaceChildren(kv([
    ["topics", (s.topics || []).join(", ")],
    ["records read", count(t.records)],
    ["bad records skipped", `${count(s.bad_records)} (${reasons(t.bad_records)})`],
    ["rejected input by reason", reasons(t.dlq_reasons)],
    ["latest event time", snapshot.latest_ts],
    ["kept", `${count(snapshot.bounds.groups)} groups, the newest ${count(snapshot.bounds.feed)} violations and ` +
      `escalations, ${count(snapshot.bounds.severe)} severe ones, ${count(snapshot.bounds.followups)} open follow-ups`],
  ]));
}

function render() {
  if (!snapshot) return;
  renderStatus(snapshot.status);
  renderSummary();
  renderFilters();
  renderQueue();
  renderFeed();
  renderCharts();
  renderResponsiveness();
  renderFollowups();
  renderReport();
  renderOps();
  document.body.dataset.version = String(snapshot.version);
  document.body.dataset.view = requested;
}

// ---------------------------------------------------------------- wiring
function accept(query, data) {
  if (query !== requested) return;   // an answer for filters that have changed since
  snapshot = data;
  render();
}

async function fetchState(query) {
  const asked = source;     // an answer that comes after a stream was opened again is older than what it sends
  try {
    const response = await fetch(`/api/state?${query}`, { cache: "no-store" });
    if (response.status === 401) { window.location.assign("/login"); return; }
    if (!response.ok) throw new Error(String(response.status));
    const data = await response.json();
    if (source !== asked) return;
    accept(query, data);
  } catch (err) {
    renderStatus(null);
  }
}

// The changes the server sends after the whole view (pipeline/dashboard/push.py): each sets a
// section or one field of it, or makes a list again from runs of the current one ([start, count])
// and new items. Returns a new object; `base` is left as it was.
function applyChanges(base, ops) {
  const next = { ...base };
  for (const [op, path, value] of ops) {
    let target = next;
    if (path.length === 2) target = next[path[0]] = { ...next[path[0]] };
    const key = path[path.length - 1];
    if (op === "set") {
      target[key] = value;
    } else if (op === "list") {
      const old = target[key];
      target[key] = value.flatMap((part) => (Array.isArray(part) ? old.slice(part[0], part[0] + part[1]) : [part]));
    } else {
      throw new Error(`unknown change ${op}`);
    }
  }
  return next;
}

// Follow the current filters live: one stream per page, opened again when they change. The
// stream starts with the whole view and then sends what changed, numbered; a number missing
// (an update lost, or one that could not be applied) opens the stream again, which starts with
// the whole view. A stream the server refused (too many live pages, or a view larger than one
// update may be) is tried again shortly, and meanwhile the page asks /api/state.
let numbered = 0;
let retry = null;
function follow(query) {
  if (source) source.close();
  clearTimeout(retry);
  source = null;
  numbered = 0;
  if (!window.EventSource) { fetchState(query); return; }
  const stream = source = new EventSource(`/api/stream?${query}`);
  stream.addEventListener("state", (e) => {
    if (stream !== source) return;
    numbered = Number(e.lastEventId);
    accept(query, JSON.parse(e.data));
  });
  stream.addEventListener("patch", (e) => {
    if (query !== requested || stream !== source) return;
    const number = Number(e.lastEventId);
    try {
      if (!snapshot || number !== numbered + 1) throw new Error(`update ${number} after ${numbered}`);
      const next = applyChanges(snapshot, JSON.parse(e.data).ops);
      numbered = number;
      accept(query, next);
    } catch (err) {
      follow(query);        // start again from the whole view
    }
  });
  stream.onerror = () => {
    renderStatus(snapshot ? { ...snapshot.status, connected: false, error: "reconnecting" } : null);
    loadMe();   // a stream refused because the session ended: back to the login page
    if (stream.readyState === EventSource.CLOSED && stream === source) {
      fetchState(query);
      retry = setTimeout(() => { if (stream === source) follow(query); }, 5000);
    }
  };
}

function refresh() {
  const query = viewQuery();
  if (query === requested && source) return;
  requested = query;
  follow(query);
}

async function loadMe() {
  try {
    const response = await fetch("/api/me", { cache: "no-store" });
    if (response.status === 401) { window.location.assign("/login"); return; }
    if (!response.ok) return;
    me = await response.json();
  } catch (err) {
    return;
  }
  const groups = me.groups ? ` (${me.groups.length} group${me.groups.length === 1 ? "" : "s"})` : "";
  document.getElementById("me").replaceChildren(v(me.display_name), ` · ${me.role}${groups}`);
  document.getElementById("me").title = me.groups ? me.groups.join(", ") : "every group";
  if (snapshot) render();
}

async function logout() {
  try {
    await fetch("/logout", { method: "POST", headers: { "X-CSRF-Token": me ? me.csrf : "" } });
  } finally {
    window.location.assign("/login");
  }
}

let typing = null;
document.addEventListener("DOMContentLoaded", () => {
  loadMe();
  document.getElementById("logout").addEventListener("click", logout);
  document.addEventListener("keydown", onKey);
  document.getElementById("decide-confirm").addEventListener("click", () => decide("confirmed"));
  document.getElementById("decide-dismiss").addEventListener("click", () => decide("dismissed"));
  document.getElementById("decide-relabel").addEventListener("click", () => decide("relabelled"));
  for (const id of ["q-group", "q-label", "q-age"]) {
    document.getElementById(id).addEventListener("change", () => { selectedIndex = 0; refresh(); });
  }
  for (const id of ["f-group", "f-rule", "f-severity", "f-escalations", "r-window"]) {
    document.getElementById(id).addEventListener("change", () => {
      if (id !== "r-window") offset = 0;
      if (id === "f-group") reportChoice = "";
      refresh();
    });
  }
  document.getElementById("report-group").addEventListener("change", (e) => { reportChoice = e.target.value; refresh(); });
  document.getElementById("f-member").addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { offset = 0; refresh(); }, 250);
  });
  document.getElementById("feed-newer").addEventListener("click", () => { offset = Math.max(0, offset - PAGE); refresh(); });
  document.getElementById("feed-older").addEventListener("click", () => { offset += PAGE; refresh(); });
  for (const th of document.querySelectorAll("#responsiveness th")) {
    th.addEventListener("click", () => {
      sort = { key: th.dataset.key, dir: sort.key === th.dataset.key && sort.dir === "asc" ? "desc" : "asc" };
      refresh();
    });
  }
  refresh();
  if (!window.EventSource) setInterval(() => fetchState(requested), 2000);
});
