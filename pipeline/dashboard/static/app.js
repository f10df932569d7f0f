// The dashboard page: renders the snapshot from /api/state and follows /api/stream (server-sent
// events). Every value from the topics goes into the page as text (textContent), never as HTML.
"use strict";

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
  "#bcbd22", "#7f7f7f", "#393b79", "#ad494a", "#637939", "#8c6d31", "#843c39", "#7b4173"];
const SVG_NS = "http://www.w3.org/2000/svg";
let snapshot = null;
let sort = { key: "reply_rate", dir: 1 };

// ---------------------------------------------------------------- small helpers
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k === "bg") node.style.background = v;
    else if (k === "width") node.style.width = v;
    else node.setAttribute(k, v);
  }
  for (const child of children) if (child != null) node.append(child);
  return node;
}
function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}
function ruleColour(rule) {
  let h = 0;
  for (const c of String(rule)) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return PALETTE[h % PALETTE.length];
}
function ruleBadge(rule) { return el("span", { class: "rule", text: rule, bg: ruleColour(rule) }); }
function shortTime(ts) {
  if (!ts) return "";
  const m = /^(\d{4})-(\d\d)-(\d\d)T(\d\d:\d\d)/.exec(ts);
  return m ? `${m[2]}-${m[3]} ${m[4]}` : ts;
}
function duration(seconds) {
  if (seconds == null) return "–";
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
}
function percent(rate) { return rate == null ? "–" : `${Math.round(rate * 100)}%`; }
function memberLabel(m) { return (m && (m.name || m.id)) || "—"; }
function groupLabel(id) {
  const g = (snapshot.groups || []).find((x) => x.id === id);
  return g && g.name ? `${g.name} (${id})` : id;
}
function setOptions(select, values, keepFirst, labelOf) {
  // Rebuild only when the choices change, so an open drop-down is not disturbed by live updates.
  const have = [...select.options].slice(keepFirst ? 1 : 0).map((o) => o.value);
  if (have.length === values.length && have.every((v, i) => v === values[i])) return;
  const current = select.value;
  while (select.options.length > (keepFirst ? 1 : 0)) select.remove(select.options.length - 1);
  for (const v of values) select.append(el("option", { value: v, text: labelOf ? labelOf(v) : v }));
  if ([...select.options].some((o) => o.value === current)) select.value = current;
}
function filters() {
  return {
    group: document.getElementById("f-group").value,
    rule: document.getElementById("f-rule").value,
    severity: document.getElementById("f-severity").value,
    member: document.getElementById("f-member").value.trim().toLowerCase(),
    escalations: document.getElementById("f-escalations").checked,
  };
}
function memberMatches(m, needle) {
  if (!needle) return true;
  return [m && m.name, m && m.id].some((v) => v && String(v).toLowerCase().includes(needle));
}

// ---------------------------------------------------------------- sections
function renderStatus(status) {
  const node = document.getElementById("status");
  if (!status) { node.className = "status down"; node.textContent = "no connection to the dashboard"; return; }
  if (status.connected) {
    node.className = "status ok";
    node.textContent = `live · ${status.records} records from ${status.bootstrap}`;
  } else {
    node.className = "status waiting";
    node.textContent = `waiting for Kafka at ${status.bootstrap}` + (status.error ? ` (${status.error})` : "");
  }
}

function renderSummary() {
  const t = snapshot.totals;
  const cards = [
    ["violations", t.kinds.violation || 0, ""],
    ["severe", t.severities.severe || 0, "severe"],
    ["escalations", t.kinds.escalation || 0, ""],
    ["to supervisor", t.levels.supervisor || 0, "severe"],
    ["removal recommended", t.levels.removal_recommended || 0, ""],
    ["messages classified", t.kinds.verdict || 0, ""],
    ["groups", snapshot.groups.length, ""],
    ["rejected input (DLQ)", t.kinds.rejected || 0, ""],
  ];
  const box = document.getElementById("summary");
  box.replaceChildren(...cards.map(([label, n, cls]) =>
    el("div", { class: `card ${cls}` }, el("div", { class: "n", text: String(n) }), el("div", { class: "l", text: label }))));
}

function renderFilters() {
  setOptions(document.getElementById("f-group"), snapshot.groups.map((g) => g.id), true, groupLabel);
  const rules = new Set();
  for (const chart of Object.values(snapshot.charts)) for (const r of Object.keys(chart.totals)) rules.add(r);
  for (const item of snapshot.feed) rules.add(item.rule);
  setOptions(document.getElementById("f-rule"), [...rules].sort(ruleOrder), true);
  const reportSelect = document.getElementById("report-group");
  setOptions(reportSelect, Object.keys(snapshot.reports), false, groupLabel);
}
function ruleOrder(a, b) {
  const pa = /^([A-Z])(\d+)$/.exec(a), pb = /^([A-Z])(\d+)$/.exec(b);
  if (pa && pb && pa[1] === pb[1]) return Number(pa[2]) - Number(pb[2]);
  return String(a).localeCompare(String(b));
}

function renderFeed() {
  const f = filters();
  const rows = snapshot.feed.filter((item) =>
    (!f.group || item.group_id === f.group) && (!f.rule || item.rule === f.rule) &&
    (!f.severity || item.severity === f.severity) && memberMatches(item.member, f.member) &&
    (f.escalations || item.kind !== "escalation"));
  const body = document.querySelector("#feed tbody");
  body.replaceChildren(...rows.map((item) => {
    const what = item.kind === "escalation"
      ? el("span", { class: `level ${item.level}`, text: item.level.replace(/_/g, " ") })
      : el("span", { text: "violation" });
    const row = el("tr", { "data-kind": item.kind, "data-group": item.group_id, "data-rule": item.rule },
      el("td", { class: "time", text: shortTime(item.ts), title: item.ts || "" }),
      el("td", { class: "nw", text: item.group_id }),
      el("td", {}, what),
      el("td", {}, ruleBadge(item.rule)),
      el("td", { class: `sev ${item.severity || ""}`, text: item.severity || "" }),
      el("td", { class: "nw", text: memberLabel(item.member) }),
      el("td", { class: "excerpt", text: item.excerpt || "" }),
      el("td", { text: item.detail || "" }));
    return row;
  }));
  document.getElementById("feed-count").textContent = `${rows.length} shown of ${snapshot.feed.length}`;
  document.getElementById("feed-empty").hidden = rows.length > 0;
}

// Stacked bars: one bar per time bucket (hour, or day when the span is long), one colour per rule.
function renderCharts() {
  const f = filters();
  const box = document.getElementById("charts");
  const groups = Object.keys(snapshot.charts).filter((g) => !f.group || g === f.group);
  box.replaceChildren(...groups.map((g) => chart(g, snapshot.charts[g], f.rule)));
  if (!groups.length) box.replaceChildren(el("p", { class: "empty", text: "No violations to chart yet." }));
}
function chart(group, data, onlyRule) {
  let buckets = Object.entries(data.buckets);
  if (buckets.length > 48) {  // aggregate hours into days
    const days = new Map();
    for (const [b, counts] of buckets) {
      const day = b.slice(0, 10);
      const into = days.get(day) || {};
      for (const [r, n] of Object.entries(counts)) into[r] = (into[r] || 0) + n;
      days.set(day, into);
    }
    buckets = [...days.entries()];
  }
  const rules = Object.keys(data.totals).filter((r) => !onlyRule || r === onlyRule).sort(ruleOrder);
  const W = 560, H = 180, left = 28, bottom = 30, top = 8;
  const max = Math.max(1, ...buckets.map(([, c]) => rules.reduce((s, r) => s + (c[r] || 0), 0)));
  const plotW = W - left - 8, plotH = H - top - bottom;
  const step = plotW / Math.max(1, buckets.length);
  const barW = Math.max(2, Math.min(40, step * 0.7));
  const root = svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": `violations by rule over time in ${group}` });
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
      tip.textContent = `${bucket} · ${r}: ${n}`;
      rect.append(tip);
      root.append(rect);
    }
    const every = Math.ceil(buckets.length / 8);
    if (i % every === 0) {
      const label = svg("text", { x: x + barW / 2, y: H - bottom + 14, "text-anchor": "middle" });
      label.textContent = shortTime(bucket.length > 10 ? bucket : `${bucket}T00:00`).slice(0, bucket.length > 10 ? 11 : 5);
      root.append(label);
    }
  });
  const legend = el("div", { class: "legend" }, ...rules.map((r) =>
    el("span", {}, el("span", { class: "sw", bg: ruleColour(r) }), el("span", { text: `${r} ${data.totals[r]}` }))));
  return el("div", { class: "chart", "data-group": group }, el("h3", { text: groupLabel(group) }), root, legend);
}

function renderResponsiveness() {
  const f = filters();
  const windowKind = document.getElementById("r-window").value;
  const rows = snapshot.responsiveness.filter((r) => r.window.kind === windowKind &&
    (!f.group || r.group_id === f.group) && memberMatches(r.member, f.member));
  const who = (r) => r.scope === "group" ? "（全群 whole group）" : memberLabel(r.member);
  const value = (r, key) => key === "member" ? who(r) : key === "start" ? r.window.start : r[key];
  rows.sort((a, b) => {
    const va = value(a, sort.key), vb = value(b, sort.key);
    if (va == null && vb == null) return 0;
    if (va == null) return 1;       // blanks last whatever the direction
    if (vb == null) return -1;
    return (typeof va === "number" ? va - vb : String(va).localeCompare(String(vb))) * sort.dir;
  });
  const body = document.querySelector("#responsiveness tbody");
  body.replaceChildren(...rows.map((r) => el("tr", { class: `${r.overdue ? "overdue" : ""} ${r.scope}` },
    el("td", { class: "nw", text: who(r) }),
    el("td", { class: "nw", text: r.group_id }),
    el("td", { class: "time", text: shortTime(r.window.start) }),
    el("td", { class: "num", text: String(r.addressed ?? "–") }),
    el("td", { class: "num", text: String(r.replied ?? "–") }),
    el("td", { class: "num", text: percent(r.reply_rate) }),
    el("td", { class: "num", text: duration(r.median_reply_seconds) }),
    el("td", { class: "num", text: duration(r.p90_reply_seconds) }),
    el("td", { class: "num", text: String(r.overdue ?? "–") }))));
  for (const th of document.querySelectorAll("#responsiveness th")) {
    th.classList.toggle("asc", th.dataset.key === sort.key && sort.dir === 1);
    th.classList.toggle("desc", th.dataset.key === sort.key && sort.dir === -1);
  }
  document.getElementById("responsiveness-empty").hidden = rows.length > 0;
}

function renderFollowups() {
  const f = filters();
  const rows = snapshot.followups.filter((item) => !f.group || item.group_id === f.group);
  const body = document.querySelector("#followups tbody");
  body.replaceChildren(...rows.map((item) => el("tr", { class: item.overdue ? "overdue" : "" },
    el("td", { class: "nw", text: item.group_id }),
    el("td", { text: item.what }),
    el("td", { class: "nw", text: item.who || "" }),
    el("td", { class: "time", text: shortTime(item.since) }),
    el("td", { class: "time", text: shortTime(item.due) }),
    el("td", { text: [item.detail, item.recipients && `→ ${item.recipients}`].filter(Boolean).join(" ") }))));
  document.getElementById("followups-count").textContent = rows.length ? String(rows.length) : "";
  document.getElementById("followups-empty").hidden = rows.length > 0;
}

function renderReport() {
  const f = filters();
  const select = document.getElementById("report-group");
  if (f.group && snapshot.reports[f.group]) select.value = f.group;
  const report = snapshot.reports[select.value];
  const box = document.getElementById("report");
  document.getElementById("report-empty").hidden = Boolean(report);
  select.hidden = !report;
  if (!report) { box.replaceChildren(); return; }
  const blocks = [];
  const period = report.period || {};
  blocks.push(block("Period", kv([["group", (report.group && report.group.name) || report.group_id],
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
    blocks.push(block("Activity", kv([["messages", a.messages], ["active members", a.active_members],
      ...Object.entries(a.owners || {}).map(([o, n]) => [`owner ${o}`, `${n} messages`])])));
  }
  for (const [key, title] of [["problems", "Problems (C5)"], ["rectifications", "Rectifications (D4)"],
    ["urgent_posts", "Urgent posts (P10/P11)"]]) {
    const s = report[key];
    if (s && typeof s === "object") {
      blocks.push(block(title, kv(Object.entries(s).filter(([k]) => k !== "open")
        .concat([["open", Array.isArray(s.open) ? s.open.length : 0]]))));
    }
  }
  if (Array.isArray(report.announcements)) {
    blocks.push(block("Announcements (P7)", el("div", {}, ...report.announcements.map((a) =>
      el("div", { text: `${a.title || a.announcement_id}: ${a.acknowledged ?? "?"}/${a.audience ?? "?"} read` +
        (a.open ? " (open)" : "") }))) ));
  }
  if (Array.isArray(report.inactive_members)) {
    blocks.push(block(`Inactive members: ${report.inactive_members.length}`, el("div", {}, ...report.inactive_members.map((m) =>
      el("div", { text: `${memberLabel(m)} · silent ${m.silent_days ?? "?"} days` })))));
  }
  box.replaceChildren(el("div", { class: "report-grid" }, ...blocks));
}
function block(title, content) { return el("div", { class: "block" }, el("h3", { text: title }), content); }
function kv(pairs) {
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of pairs) {
    if (v === undefined) continue;
    dl.append(el("dt", { text: k }), el("dd", { text: v == null ? "–" : typeof v === "object" ? JSON.stringify(v) : String(v) }));
  }
  return dl;
}

function renderOps() {
  const s = snapshot.status || {};
  const reasons = Object.entries(snapshot.totals.dlq_reasons || {}).map(([r, n]) => `${r} ${n}`).join(", ") || "none";
  document.getElementById("ops").replaceChildren(kv([
    ["topics", (s.topics || []).join(", ")],
    ["records read", s.records], ["unreadable records", s.unreadable],
    ["rejected input by reason", reasons],
    ["latest event time", snapshot.latest_ts],
  ]));
}

function render() {
  if (!snapshot) return;
  renderStatus(snapshot.status);
  renderSummary();
  renderFilters();
  renderFeed();
  renderCharts();
  renderResponsiveness();
  renderFollowups();
  renderReport();
  renderOps();
  document.body.dataset.version = String(snapshot.version);
}

// ---------------------------------------------------------------- wiring
function accept(data) { snapshot = data; render(); }

async function poll() {
  try {
    const response = await fetch("/api/state", { cache: "no-store" });
    accept(await response.json());
  } catch (err) {
    renderStatus(null);
  }
}

function follow() {
  if (!window.EventSource) { setInterval(poll, 2000); return; }
  const source = new EventSource("/api/stream");
  source.addEventListener("state", (e) => accept(JSON.parse(e.data)));
  source.onerror = () => renderStatus(snapshot ? { ...snapshot.status, connected: false, error: "reconnecting" } : null);
}

document.addEventListener("DOMContentLoaded", () => {
  for (const id of ["f-group", "f-rule", "f-severity", "f-member", "f-escalations", "r-window", "report-group"]) {
    document.getElementById(id).addEventListener("input", render);
    document.getElementById(id).addEventListener("change", render);
  }
  for (const th of document.querySelectorAll("#responsiveness th")) {
    th.addEventListener("click", () => {
      sort = { key: th.dataset.key, dir: sort.key === th.dataset.key ? -sort.dir : 1 };
      render();
    });
  }
  poll().then(follow);
});
