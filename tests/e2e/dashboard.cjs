// Drives headless Chromium through playwright-core: opens the dashboard, takes two samples a
// few refreshes apart and checks that the page's figures and chart pixels changed, that the
// cache and latency charts have data, and that the page reported no errors. Exits non-zero
// (with the reason) on any failure; saves a screenshot either way.
"use strict";
const { chromium } = require(process.env.PLAYWRIGHT_CORE);

function fail(msg) {
  console.error("dashboard test FAILED: " + msg);
  process.exitCode = 1;
}

async function sample(page) {
  return page.evaluate(() => {
    const text = (id) => document.getElementById(id).textContent;
    const canvas = (id) => document.getElementById(id).toDataURL();
    const s = window.eavdbDashboard;
    return {
      samples: s.samples,
      total: text("v-total"),
      rps: text("v-rps"),
      status: document.getElementById("status").className,
      charts: { rps: canvas("c-rps"), lat: canvas("c-lat"), cache: canvas("c-cache") },
      series: { rps: s.series.rps.slice(), p99: s.series.p99.slice(), l2: s.series.l2.slice() },
      shapes: document.querySelectorAll("#shapes tbody tr").length,
    };
  });
}

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const errors = [];
  try {
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
    await page.goto(process.env.EAVDB_DASHBOARD_URL, { waitUntil: "load", timeout: 60000 });
    // Rates need two samples; wait for three so the charts hold at least two points.
    await page.waitForFunction(() => window.eavdbDashboard && window.eavdbDashboard.samples >= 3, null, { timeout: 60000 });
    const a = await sample(page);
    const target = a.samples + 3;
    await page.waitForFunction((n) => window.eavdbDashboard.samples >= n, target, { timeout: 60000 });
    const b = await sample(page);
    await page.screenshot({ path: process.env.SCREENSHOT, fullPage: true });

    if (b.status !== "status ok") fail(`status is '${b.status}', not live`);
    if (a.total === b.total) fail(`requests total did not change between samples (${a.total})`);
    if (a.charts.rps === b.charts.rps) fail("the throughput chart did not change between samples");
    if (a.charts.lat === b.charts.lat) fail("the latency chart did not change between samples");
    if (!b.series.rps.some((v) => v > 0)) fail(`no positive throughput: ${JSON.stringify(b.series.rps)}`);
    if (!b.series.p99.some((v) => v !== null && v > 0)) fail(`no latency percentile: ${JSON.stringify(b.series.p99)}`);
    if (!b.series.l2.some((v) => v !== null)) fail(`no L2 hit rate under a load of repeated gets: ${JSON.stringify(b.series.l2)}`);
    if (b.shapes === 0) fail("the slowest-shapes table is empty");
    if (errors.length) fail("page errors: " + errors.join("; "));
    console.log(`dashboard test: samples ${a.samples} -> ${b.samples}, requests ${a.total} -> ${b.total}, ` +
                `rps now ${b.rps}, ${b.shapes} shapes listed`);
  } finally {
    await browser.close();
  }
})().catch((e) => {
  fail(e && e.stack ? e.stack : String(e));
});
