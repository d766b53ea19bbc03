// Full render time of one UI page in headless chromium, for bench/ui_bench.sh:
// from navigation until the DAG page's grid is drawn (every cell of the
// first page of runs), median and p95 over N fresh loads.
//
// Usage: node ui_bench_render.mjs URL [TRIES]   (CHROMIUM: the browser)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const url = process.argv[2];
const tries = parseInt(process.argv[3] || '20', 10);
if (!url) {
  console.error('usage: node ui_bench_render.mjs URL [TRIES]');
  process.exit(2);
}

const context = await chromium.launchPersistentContext(
  fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-chromium-')), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: {width: 1280, height: 900},
  });
try {
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  // In the page: the time from navigation start to the first frame painted
  // after the grid and graph are in the document.
  await page.addInitScript(() => {
    const observer = new MutationObserver(() => {
      if (!document.querySelector('table.grid a.cell') || !document.querySelector('svg.graph')) return;
      observer.disconnect();
      requestAnimationFrame(() => { window.__sluiceGridMs = performance.now(); });
    });
    observer.observe(document, {childList: true, subtree: true});
  });
  const inPage = [];
  const parts = {};  // in-page milestones, ms from navigation start
  const wall = [];
  for (let i = 0; i < tries + 2; ++i) {
    await page.goto('about:blank');
    const start = Date.now();
    await page.goto(url);
    await page.locator('table.grid tbody tr').last().locator('a.cell').nth(24).waitFor();
    await page.locator('svg.graph').waitFor();
    const end = Date.now();
    await page.waitForFunction(() => window.__sluiceGridMs !== undefined);
    if (i >= 2) {  // two warm-up loads
      wall.push(end - start);
      const t = await page.evaluate(() => {
        const nav = performance.getEntriesByType('navigation')[0];
        const grid = performance.getEntriesByType('resource').find((e) => e.name.includes('/grid?'));
        const js = performance.getEntriesByType('resource').find((e) => e.name.endsWith('/app.js'));
        return {painted: window.__sluiceGridMs, html: nav.responseEnd,
                jsStart: js ? js.startTime : NaN, jsEnd: js ? js.responseEnd : NaN,
                dcl: nav.domContentLoadedEventEnd,
                gridStart: grid ? grid.startTime : NaN, gridEnd: grid ? grid.responseEnd : NaN};
      });
      inPage.push(t.painted);
      for (const k of Object.keys(t)) (parts[k] = parts[k] || []).push(t[k]);
    }
  }
  const stats = (values) => {
    const sorted = values.slice().sort((a, b) => a - b);
    return [sorted[Math.floor(sorted.length / 2)],
            sorted[Math.min(sorted.length - 1, Math.round(0.95 * (sorted.length - 1)))]];
  };
  const show = (line, values) => {
    const [median, p95] = stats(values);
    console.log(`  ${line.padEnd(58)} ${median.toFixed(1).padStart(7)}ms ${p95.toFixed(1).padStart(7)}ms   < 200 ms`);
  };
  show('DAG page in chromium: navigation start to grid painted', inPage);
  console.log('    milestones (median ms from navigation start): ' + Object.entries(parts)
    .map(([k, v]) => `${k} ${stats(v)[0].toFixed(1)}`).join(', '));
  show('DAG page in chromium, as the driver sees it (+ CDP round trips)', wall);
} finally {
  await context.close();
}
