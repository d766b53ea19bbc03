// Full render time of one UI page in headless chromium, for bench/ui_bench.sh:
// from navigation until the DAG page's grid and graph are painted (every
// cell of the first page of runs), median and p95 over N fresh loads; beside
// it a reference measured the same way in the same run (a small page, so a
// busy machine shows in both) and the machine's load average.
//
// Usage: node ui_bench_render.mjs URL [TRIES] [REFERENCE_URL]   (CHROMIUM: the browser)

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {chromium} from 'playwright-core';

const url = process.argv[2];
const tries = parseInt(process.argv[3] || '20', 10);
const referenceUrl = process.argv[4];
if (!url) {
  console.error('usage: node ui_bench_render.mjs URL [TRIES] [REFERENCE_URL]');
  process.exit(2);
}
const TARGET_MS = 300;

const context = await chromium.launchPersistentContext(
  fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-bench-chromium-')), {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking',
           '--disable-component-update', '--disable-sync'],
    viewport: {width: 1280, height: 900},
  });

const stats = (values) => {
  const sorted = values.slice().sort((a, b) => a - b);
  return [sorted[Math.floor(sorted.length / 2)],
          sorted[Math.min(sorted.length - 1, Math.round(0.95 * (sorted.length - 1)))]];
};
const show = (line, values, target) => {
  const [median, p95] = stats(values);
  console.log(`  ${line.padEnd(58)} ${median.toFixed(1).padStart(7)}ms ${p95.toFixed(1).padStart(7)}ms   ${target}`);
};

// Loads `address` tries + 2 times (two warm-ups); in the page, the time from
// navigation start to the first frame painted once `ready` (a selector list
// that must all match) is in the document.
async function measure(page, address, ready) {
  await page.addInitScript((selectors) => {
    const done = () => selectors.every((s) => document.querySelector(s));
    const observer = new MutationObserver(() => {
      if (!done()) return;
      observer.disconnect();
      requestAnimationFrame(() => { window.__sluicePaintedMs = performance.now(); });
    });
    observer.observe(document, {childList: true, subtree: true});
  }, ready);
  const inPage = [];
  const parts = {};  // in-page milestones, ms from navigation start
  for (let i = 0; i < tries + 2; ++i) {
    await page.goto('about:blank');
    await page.goto(address);
    await page.waitForFunction(() => window.__sluicePaintedMs !== undefined, null, {timeout: 30000});
    if (i < 2) continue;
    const t = await page.evaluate(() => {
      const nav = performance.getEntriesByType('navigation')[0];
      const resources = performance.getEntriesByType('resource');
      const grid = resources.find((e) => e.name.includes('/grid?'));
      const scripts = resources.filter((e) => e.name.endsWith('.js'));
      return {painted: window.__sluicePaintedMs, html: nav.responseEnd,
              scriptsEnd: scripts.length ? Math.max(...scripts.map((e) => e.responseEnd)) : NaN,
              dcl: nav.domContentLoadedEventEnd,
              gridStart: grid ? grid.startTime : NaN, gridEnd: grid ? grid.responseEnd : NaN};
    });
    inPage.push(t.painted);
    for (const k of Object.keys(t)) (parts[k] = parts[k] || []).push(t[k]);
  }
  return {inPage, parts};
}

try {
  const load = () => os.loadavg().map((l) => l.toFixed(2)).join(' ');
  const loadBefore = load();
  const page = context.pages()[0] || await context.newPage();
  page.setDefaultTimeout(30000);
  const dag = await measure(page, url, ['table.grid tbody tr:last-child td:nth-child(26) a.cell', 'svg.graph']);
  let reference = null;
  if (referenceUrl) {
    const other = await context.newPage();
    reference = await measure(other, referenceUrl, ['table.list tbody tr']);
  }
  show('DAG page in chromium: navigation start to grid painted', dag.inPage, `<= ${TARGET_MS} ms`);
  console.log('    milestones (median ms from navigation start): ' + Object.entries(dag.parts)
    .map(([k, v]) => `${k} ${stats(v.filter((x) => !Number.isNaN(x)))[0]?.toFixed(1)}`).join(', '));
  if (reference) show('reference, same run: the workers page painted', reference.inPage, '');
  const [median] = stats(dag.inPage);
  console.log(`  DAG page painted in ${median.toFixed(1)} ms (median of ${tries}): ` +
              `${median <= TARGET_MS ? 'within' : 'OVER'} the ${TARGET_MS} ms target` +
              (reference ? `; the reference page ${stats(reference.inPage)[0].toFixed(1)} ms` : ''));
  console.log(`  load average (1, 5, 15 min) on ${os.cpus().length} CPUs: before ${loadBefore}, after ${load()}`);
} finally {
  await context.close();
}
