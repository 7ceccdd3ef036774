// eavdb live dashboard: polls /dashboard/data every second and draws plain-canvas line charts.
// Cumulative counters from two consecutive samples become per-second rates and windowed
// latency percentiles (bucket deltas, interpolated like Prometheus' histogram_quantile).
"use strict";
(function () {
  const HISTORY = 120;  // samples (seconds) kept per chart
  const COLORS = { p50: "#2a7de1", p90: "#e1922a", p99: "#d64545", l1: "#2a7de1", l2: "#e1922a", l3: "#d64545", l4: "#3aa35b", rps: "#2a7de1" };
  const state = { prev: null, samples: 0, series: { rps: [], p50: [], p90: [], p99: [], l1: [], l2: [], l3: [], l4: [] } };
  window.eavdbDashboard = state;  // read by the browser test

  function quantile(bounds, counts, q) {
    let total = 0;
    for (const c of counts) total += c;
    if (total <= 0) return null;
    const rank = q * total;
    let below = 0;
    for (let i = 0; i < counts.length; i++) {
      if (counts[i] > 0 && below + counts[i] >= rank) {
        if (i >= bounds.length) return bounds[bounds.length - 1];
        const lo = i === 0 ? 0 : bounds[i - 1];
        return lo + (bounds[i] - lo) * ((rank - below) / counts[i]);
      }
      below += counts[i];
    }
    return bounds[bounds.length - 1];
  }

  function push(name, v) {
    const s = state.series[name];
    s.push(v);
    if (s.length > HISTORY) s.shift();
  }

  function fmt(v, digits) {
    if (v === null || v === undefined || !isFinite(v)) return "–";
    return v.toFixed(digits);
  }

  function bytes(v) {
    const units = ["B", "KiB", "MiB", "GiB"];
    let i = 0;
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return v.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function draw(canvasId, names, opts) {
    const canvas = document.getElementById(canvasId);
    const ctx = canvas.getContext("2d");
    const w = canvas.width, h = canvas.height, left = 48, bottom = 18, top = 8;
    ctx.clearRect(0, 0, w, h);
    let max = opts.max || 0;
    if (!opts.max) for (const n of names) for (const v of state.series[n]) if (v !== null && v > max) max = v;
    if (max <= 0) max = 1;
    ctx.strokeStyle = "#e3e6eb"; ctx.fillStyle = "#677185"; ctx.font = "11px system-ui, sans-serif"; ctx.lineWidth = 1;
    for (let i = 0; i <= 4; i++) {
      const y = top + (h - top - bottom) * (1 - i / 4);
      ctx.beginPath(); ctx.moveTo(left, y); ctx.lineTo(w, y); ctx.stroke();
      const label = max * i / 4;
      ctx.fillText(label >= 100 ? label.toFixed(0) : label.toPrecision(2), 2, y + 4);
    }
    ctx.fillText(HISTORY + " s", w - 34, h - 4);
    for (const n of names) {
      const s = state.series[n];
      ctx.strokeStyle = COLORS[n]; ctx.lineWidth = 2; ctx.beginPath();
      let started = false;
      s.forEach((v, i) => {
        if (v === null) { started = false; return; }
        const x = left + (w - left) * (i + HISTORY - s.length) / (HISTORY - 1);
        const y = top + (h - top - bottom) * (1 - Math.min(v, max) / max);
        if (started) ctx.lineTo(x, y); else { ctx.moveTo(x, y); started = true; }
      });
      ctx.stroke();
    }
  }

  function render(d) {
    const p = state.prev;
    const dt = p ? Math.max(1e-3, d.uptime_seconds - p.uptime_seconds) : 0;
    let rps = null, bulk = null, cpu = null, win = null;
    if (p) {
      rps = (d.requests_total - p.requests_total) / dt;
      bulk = (d.bulk_records_total - p.bulk_records_total) / dt;
      cpu = 100 * (d.cpu_seconds - p.cpu_seconds) / dt;
      win = d.latency_buckets.counts.map((c, i) => c - p.latency_buckets.counts[i]);
      const b = d.latency_buckets.bounds_ms;
      push("rps", rps);
      push("p50", quantile(b, win, 0.5));
      push("p90", quantile(b, win, 0.9));
      push("p99", quantile(b, win, 0.99));
      d.cache.forEach((lvl, i) => {
        const hits = lvl.hits - p.cache[i].hits, misses = lvl.misses - p.cache[i].misses;
        push(lvl.level, hits + misses > 0 ? 100 * hits / (hits + misses) : null);
      });
    }
    const last = (n) => state.series[n].length ? state.series[n][state.series[n].length - 1] : null;
    document.getElementById("v-rps").textContent = fmt(rps, 1);
    document.getElementById("v-lat").textContent = fmt(last("p50"), 2) + " / " + fmt(last("p99"), 2);
    document.getElementById("v-errors").textContent = String(d.errors_total);
    document.getElementById("v-total").textContent = String(d.requests_total);
    document.getElementById("v-conn").textContent = d.in_flight + " / " + d.connections;
    document.getElementById("v-workers").textContent = d.workers_busy + " / " + d.workers_queued;
    document.getElementById("v-bulk").textContent = fmt(bulk, 0);
    document.getElementById("v-proc").textContent = bytes(d.rss_bytes) + " / " + fmt(cpu, 0) + "%";
    draw("c-rps", ["rps"], {});
    draw("c-lat", ["p50", "p90", "p99"], {});
    draw("c-cache", ["l1", "l2", "l3", "l4"], { max: 100 });
    const tbody = document.querySelector("#shapes tbody");
    tbody.replaceChildren(...d.slow_shapes.map((s) => {
      const tr = document.createElement("tr");
      for (const v of [s.shape, s.plan, String(s.count), fmt(s.p99_ms, 2), fmt(s.max_ms, 2), fmt(s.count ? s.total_ms / s.count : null, 2)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.appendChild(td);
      }
      return tr;
    }));
    state.prev = d;
    state.samples++;
  }

  async function tick() {
    const status = document.getElementById("status");
    try {
      const res = await fetch("/dashboard/data", { cache: "no-store" });
      if (!res.ok) throw new Error("HTTP " + res.status);
      render(await res.json());
      status.textContent = "live · " + new Date().toLocaleTimeString();
      status.className = "status ok";
    } catch (e) {
      status.textContent = "no data: " + e.message;
      status.className = "status err";
    }
    setTimeout(tick, 1000);
  }
  tick();
})();
