// Statistics charts (GET /api/stats) drawn with the vendored uPlot (lib/uPlot.iife.min.js, MIT, lib/uPlot.LICENSE).
// Self-contained: reads the API key the dashboard keeps in sessionStorage, owns only #stats, refreshes every few seconds
// while the page is visible, so live updates need nothing from app.js.
(() => {
  "use strict";
  const KEY = "akkamail.apiKey";
  const REFRESH_MS = 5000;
  const RANGES = {
    "hour": { ms: 3600e3, bucket: "minute" },
    "day": { ms: 86400e3, bucket: "hour" },
    "day-minute": { ms: 86400e3 - 60e3, bucket: "minute" },
    "week": { ms: 7 * 86400e3, bucket: "hour" },
    "month": { ms: 30 * 86400e3, bucket: "hour" },
    "year": { ms: 365 * 86400e3, bucket: "day" },
  };
  // High-contrast palette distinguishable without colour too (dashes differ per series).
  const VOLUME = [
    ["accepted", "#1f4e9c", []], ["sent", "#6a3d9a", [6, 3]], ["delivered", "#1b7a3a", []], ["failed", "#b3261e", [2, 2]],
    ["deferred", "#8a5a00", [8, 4]], ["opened", "#00676e", [4, 2]], ["clicked", "#444", [1, 3]],
  ];
  const RATES = [["deliveredPerSent", "delivered / sent", "#1b7a3a", []], ["bouncedPerSent", "bounced / sent", "#b3261e", [6, 3]],
    ["complainedPerDelivered", "complained / delivered", "#8a5a00", [2, 2]]];
  const LATENCY = [["p50Ms", "p50", "#1f4e9c", []], ["p90Ms", "p90", "#6a3d9a", [6, 3]], ["p99Ms", "p99", "#b3261e", [2, 2]]];

  const el = (id) => document.getElementById(id);
  let charts = {};
  let timer = null;
  let loading = false;

  function draw(name, container, opts, data) {
    const width = Math.max(240, container.clientWidth);
    if (charts[name]) {
      charts[name].setData(data);
      if (charts[name].width !== width) charts[name].setSize({ width, height: opts.height });
      return;
    }
    container.textContent = "";
    charts[name] = new uPlot({ ...opts, width }, data, container);
  }

  function render(stats) {
    const t = stats.series.map((p) => Date.parse(p.start) / 1000);
    const height = 220;
    draw("volume", el("stats-volume"), {
      height, series: [{ label: "time" }, ...VOLUME.map(([k, stroke, dash]) => ({ label: k, stroke, dash, width: 2 }))],
      axes: [{}, { label: `per ${stats.bucket}` }],
    }, [t, ...VOLUME.map(([k]) => stats.series.map((p) => p.counts[k]))]);
    draw("rates", el("stats-rates"), {
      height, scales: { y: { range: [0, 1] } },
      series: [{ label: "time" }, ...RATES.map(([, label, stroke, dash]) => ({ label, stroke, dash, width: 2, points: { show: true, size: 5 },
        value: (u, v) => v == null ? "–" : `${(v * 100).toFixed(1)} %` }))],
      axes: [{}, { values: (u, vals) => vals.map((v) => `${Math.round(v * 100)} %`) }],
    }, [t, ...RATES.map(([k]) => stats.series.map((p) => p.rates[k]))]);
    const lt = stats.latency.series.map((p) => Date.parse(p.start) / 1000);
    draw("latency", el("stats-latency"), {
      height,
      series: [{ label: "time" }, ...LATENCY.map(([, label, stroke, dash]) => ({ label, stroke, dash, width: 2,
        value: (u, v) => v == null ? "–" : `${v} ms` }))],
      axes: [{}, { label: `ms, per ${stats.latency.bucket}` }],
    }, [lt, ...LATENCY.map(([k]) => stats.latency.series.map((p) => p[k]))]);

    const pct = (v) => v == null ? "–" : `${(v * 100).toFixed(1)} %`;
    const tot = stats.totals;
    el("stats-summary").textContent =
      `${tot.accepted} accepted, ${tot.sent} sent, ${tot.delivered} delivered (${pct(stats.rates.deliveredPerSent)}), ` +
      `${tot.failed} failed, ${tot.bounced} bounced (${pct(stats.rates.bouncedPerSent)}), ${tot.deferred} deferred, ` +
      `${tot.opened} opened, ${tot.clicked} clicked, ${tot.complained} complained (${pct(stats.rates.complainedPerDelivered)}), ` +
      `${tot.unsubscribed} unsubscribed, ${tot.suppressed} suppressed; provider latency p50 ${stats.latency.overall.p50Ms ?? "–"} ms, ` +
      `p99 ${stats.latency.overall.p99Ms ?? "–"} ms.`;
    el("stats-volume").setAttribute("aria-label", `Volume per ${stats.bucket}: ${tot.accepted} accepted, ${tot.delivered} delivered`);
  }

  async function refresh() {
    const key = sessionStorage.getItem(KEY);
    const section = el("stats");
    if (!key || !section || section.offsetParent === null || loading) return;
    const range = RANGES[el("stats-range").value] ?? RANGES.day;
    const to = new Date();
    const params = new URLSearchParams({ from: new Date(to.getTime() - range.ms).toISOString(), to: to.toISOString(), bucket: range.bucket });
    const tag = el("stats-tag").value.trim();
    if (tag) params.set("tag", tag);
    loading = true;
    try {
      const r = await fetch(`/api/stats?${params}`, { headers: { Authorization: `Bearer ${key}` } });
      if (!r.ok) {
        const problem = await r.json().catch(() => ({}));
        el("stats-error").textContent = problem.detail || problem.title || `HTTP ${r.status}`;
        return;
      }
      el("stats-error").textContent = "";
      render(await r.json());
    } catch (e) {
      el("stats-error").textContent = String(e);
    } finally {
      loading = false;
    }
  }

  function start() {
    const form = el("stats-form");
    if (!form) return;
    form.addEventListener("submit", (e) => { e.preventDefault(); charts = {}; refresh(); });
    el("stats-range").addEventListener("change", () => { charts = {}; refresh(); });
    window.addEventListener("resize", () => { for (const c of Object.values(charts)) c.setSize({ width: Math.max(240, c.root.parentElement.clientWidth), height: c.height }); });
    timer = setInterval(() => { if (!document.hidden) refresh(); }, REFRESH_MS);
    refresh();
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
