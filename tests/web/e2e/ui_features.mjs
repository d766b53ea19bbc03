// Browser steps for the UI's features, run by ui_test.mjs on its page and
// server: a mapped task with a failing instance in the grid and graph, the
// grid's bars, markers, legend and task-instance panel, polls that send
// only what changed, the trigger form's param fields, the DAG list's search,
// filters and sorting, the calendar, the Gantt chart, the backfill page,
// and every page in light mode, dark mode and at 390 px (screenshots,
// checked for a dark background and no sideways scrolling).

import fs from 'node:fs';
import path from 'node:path';

// Four mapped instances, the last one failing; a task that fails its first
// try and succeeds on its retry; params of each type, one holding markup.
export const MAPPED_DAG = `dag: e2e_mapped
description: "Mapped <b>bold</b> & <script>window.__sluice_pwned = 3</script> DAG"
schedule: null
start_date: 2026-01-01
timezone: Asia/Tokyo
tags: [mapped, e2e]
params:
  limit: 3
  dry: false
  label: "<img src=x onerror=window.__sluice_pwned=2>"
tasks:
  - id: each
    type: shell
    map: {items: [a, b, c, bad]}
    command: "echo 'item {{ item }}'; test {{ item }} != bad"
  - id: flaky
    type: shell
    retries: 1
    retry_delay: 1s
    command: "echo 'try {{ try_number }}'; sleep 0.3; test {{ try_number }} -gt 1"
`;

export const FEATURE_DAGS = {'e2e_mapped.yaml': MAPPED_DAG};

function check(condition, message) {
  if (!condition) throw new Error(message);
}

// Relative luminance of a computed CSS colour "rgb(r, g, b)".
function luminance(colour) {
  const [r, g, b] = colour.match(/\d+(\.\d+)?/g).slice(0, 3).map(Number).map((c) => {
    const v = c / 255;
    return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

// Triggers e2e_mapped through the param fields; returns the run id.
async function triggerWithParamFields(t) {
  const {page, base} = t;
  await page.goto(`${base}/#/dag/e2e_mapped`);
  await page.locator('details.trigger summary').click();
  const label = page.locator('#param-label');
  check(await label.inputValue() === '<img src=x onerror=window.__sluice_pwned=2>',
    'the string param field does not hold its default as text');
  check(await page.locator('.param-type', {hasText: 'number'}).count() === 1, 'the number param is not typed');
  await page.locator('#param-limit').fill('5');
  await page.locator('#param-dry').check();
  await page.locator('#trigger-button').click();
  const created = page.locator('details.trigger .trigger-result a');
  await created.waitFor();
  const runId = (await created.textContent()).trim();
  const run = await (await fetch(`${base}/api/v1/dags/e2e_mapped/runs/${encodeURIComponent(runId)}`)).json();
  const want = {dry: true, label: '<img src=x onerror=window.__sluice_pwned=2>', limit: 5};
  const got = Object.fromEntries(Object.entries(run.conf).sort(([a], [b]) => (a < b ? -1 : 1)));
  check(JSON.stringify(got) === JSON.stringify(want), 'conf from the param fields: ' + JSON.stringify(run.conf));
  t.log(`triggered ${runId} through the param fields`);
  return runId;
}

// Defect 1: the mapped cell and graph node show the worst instance and the counts.
async function mappedCellShowsWorstState(t, runId) {
  const {page} = t;
  const cell = page.locator(`table.grid a.cell[data-run="${runId}"][data-task="each"]`);
  await t.waitFor('the mapped cell to settle failed', async () =>
    await cell.getAttribute('data-state') === 'failed' &&
    await cell.getAttribute('data-counts') === '1 failed, 3 success');
  check((await cell.getAttribute('title')).includes('4 instances: 1 failed, 3 success'), 'mapped cell tooltip lacks the counts');
  check((await cell.textContent()) === '4', 'mapped cell does not show its instance count');
  check(await cell.evaluate((e) => getComputedStyle(e).backgroundColor) ===
        await page.evaluate(() => getComputedStyle(document.documentElement).getPropertyValue('--st-failed').trim())
          .then((hex) => `rgb(${[1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16)).join(', ')})`),
  'the mapped cell is not failed-coloured');
  const node = page.locator('svg.graph g[data-task="each"]');
  await t.waitFor('the graph node to be failed', async () => await node.getAttribute('data-state') === 'failed');
  check(await node.getAttribute('data-counts') === '1 failed, 3 success', 'graph node counts');
  check(await node.locator('rect.node.st-failed').count() === 1, 'graph node is not failed-coloured');
  check((await node.locator('text.node-badge').textContent()) === '×4', 'graph node lacks its ×4 badge');
  t.log('mapped cell and graph node show failed with "1 failed, 3 success"');
}

// Run bars, run type markers, date labels, legend, tooltips; the panel.
async function gridFeatures(t, runId) {
  const {page} = t;
  await t.waitFor('the flaky task to succeed on its retry', async () =>
    await page.locator(`table.grid a.cell[data-run="${runId}"][data-task="flaky"][data-state="success"]`).count() === 1);
  const bar = page.locator(`table.grid a.bar[data-run="${runId}"]`);
  await t.waitFor('the run to end', async () => (await bar.getAttribute('class')).includes('st-failed'));
  const height = await bar.evaluate((e) => e.getBoundingClientRect().height);
  check(Number(await bar.getAttribute('data-duration')) > 0 && height > 4, `run bar height ${height}`);
  check((await bar.getAttribute('title')).includes('manual'), 'run bar tooltip lacks the run type');
  check(await page.locator(`table.grid .run-type.type-manual[data-run="${runId}"]`).textContent() === 'M', 'no manual marker');
  const dateLabel = new Intl.DateTimeFormat('en-GB', {month: 'short', day: 'numeric', timeZone: 'Asia/Tokyo'})
    .format(new Date());
  check((await page.locator('table.grid tr.dates').textContent()).includes(dateLabel),
    `no date label "${dateLabel}" in Asia/Tokyo`);
  for (const s of ['success', 'failed', 'running', 'queued']) {
    check(await page.locator(`.legend .sq.st-${s}`).count() >= 1, `legend lacks ${s}`);
  }
  // The panel, without leaving the grid: the worst instance is chosen.
  const url = page.url();
  await page.locator(`table.grid a.cell[data-run="${runId}"][data-task="each"]`).click();
  const panel = page.locator('#ti-panel');
  await panel.locator('.instance.current[data-map-index="3"]').waitFor();
  check(page.url() === url, 'clicking a cell left the grid');
  check(await panel.locator('.instance').count() === 4, 'panel lists 4 instances');
  await t.waitFor('the panel log', async () => ((await page.locator('#panel-log').textContent()) || '').includes('item bad'));
  for (const fact of ['queued', 'started', 'ended', 'in queue', 'worker']) {
    check(await panel.locator('dt', {hasText: fact}).count() >= 1, `panel lacks ${fact}`);
  }
  check((await panel.locator('dd.worker').textContent()).trim() !== '—', 'panel shows no worker');
  await panel.locator('details.rendered summary').click();
  check((await panel.locator('details.rendered pre').textContent()).includes('item'), 'rendered spec not shown');
  await page.screenshot({path: path.join(t.outDir, 'f01-grid-panel-mapped.png'), fullPage: true});
  // The retried task: two tries in the panel.
  await page.locator(`table.grid a.cell[data-run="${runId}"][data-task="flaky"]`).click();
  await t.waitFor('the flaky panel', async () => (await panel.locator('h2').textContent()).startsWith('flaky'));
  check(await panel.locator('.tries button.try').count() === 2, 'the retried task shows 2 tries');
  await t.waitFor('the log of try 2', async () => (await page.locator('#panel-log').textContent()).includes('try 2'));
  await panel.locator('.tries button.try', {hasText: '1'}).click();
  await t.waitFor('the log of try 1', async () => (await page.locator('#panel-log').textContent()).includes('try 1'));
  await page.locator('#ti-panel-close').click();
  check(await panel.isHidden(), 'panel did not close');
  t.log('grid shows bars, markers, dates, legend; the panel shows instances, tries and logs');
}

// Polls send only what changed: once the run ended, the answer is tiny.
async function pollsSendOnlyChanges(t) {
  const {page} = t;
  const answers = [];
  const listen = async (res) => {
    if (!res.url().includes('/grid?')) return;
    answers.push({url: res.url(), body: await res.text().catch(() => '')});
  };
  page.on('response', listen);
  await page.reload();
  await page.locator('table.grid a.cell').first().waitFor();
  await t.waitFor('three grid polls', async () => answers.length >= 3, 15000);
  page.off('response', listen);
  const [first, second, third] = answers;
  check(!first.url.includes('since='), 'the first poll asks with a marker');
  check(second.url.includes('since='), 'the second poll does not send the marker');
  check(JSON.parse(third.body).unchanged === true && third.body.length < 1000,
    `a poll with nothing changed sent ${third.body.length} bytes: ${third.body.slice(0, 200)}`);
  check(first.body.length > 5 * third.body.length, 'the full answer is not larger than the unchanged one');
  t.log(`grid polls: first ${first.body.length} bytes, unchanged ${third.body.length} bytes`);
}

// Search, filters and sorting of the DAG list; last run time and duration.
async function dagListFeatures(t) {
  const {page, base} = t;
  await page.goto(`${base}/#/`);
  const rows = page.locator('table.dags tbody tr[data-dag]');
  await page.locator('tr[data-dag="e2e_mapped"] .last-duration').waitFor();
  const ids = async () => rows.evaluateAll((trs) => trs.map((tr) => tr.getAttribute('data-dag')));
  const all = await ids();
  check(all.length >= 5, 'DAG list shows ' + all.join(','));
  check((await page.locator('tr[data-dag="e2e_mapped"] .description').textContent()).includes('<b>bold</b> & <script>'),
    'description not shown as text');
  check((await page.locator('tr[data-dag="e2e_mapped"] .last-duration').textContent()).trim() !== '', 'no last duration');
  check((await page.locator('tr[data-dag="e2e_mapped"] .last-run').textContent()).trim() !== '', 'no last run time');
  await page.locator('#dag-search').fill('BOLD');  // matches the description only
  await t.waitFor('search by description', async () => (await ids()).join() === 'e2e_mapped');
  await page.locator('#dag-search').fill('e2e_d');
  await t.waitFor('search by id', async () => (await ids()).join() === 'e2e_daily,e2e_demo');
  await page.locator('#dag-search').fill('');
  await page.locator('#dag-tag').selectOption('mapped');
  await t.waitFor('filter by tag', async () => (await ids()).join() === 'e2e_mapped');
  await page.locator('#dag-tag').selectOption('');
  await page.locator('#dag-state').selectOption('failed');
  await t.waitFor('filter by last run state', async () => (await ids()).join() === 'e2e_mapped');
  await page.locator('#dag-state').selectOption('');
  await page.locator('#dag-paused').selectOption('paused');
  await t.waitFor('filter paused', async () => (await ids()).join() === 'e2e_checks,e2e_daily');
  await page.locator('#dag-paused').selectOption('');
  await page.locator('button.sort[data-sort="dag"]').click();  // already by id: now descending
  await t.waitFor('sort by id descending', async () => (await ids()).join() === all.slice().sort().reverse().join());
  await page.locator('button.sort[data-sort="duration"]').click();
  await t.waitFor('sort by duration', async () => {
    const lastRuns = await (await fetch(`${base}/api/v1/last-runs`)).json();
    const duration = (id) => {
      const run = lastRuns.find((r) => r.dag_id === id);
      return run && run.duration_ms !== null ? run.duration_ms : -1;
    };
    const byDuration = all.slice().sort((a, b) => duration(a) - duration(b) || (a < b ? -1 : 1));
    return (await ids()).join() === byDuration.join();
  });
  await page.locator('button.sort[data-sort="dag"]').click();
  await page.screenshot({path: path.join(t.outDir, 'f02-dag-list-filters.png'), fullPage: true});
  t.log('DAG list searches, filters and sorts');
}

async function calendarShowsOutcomes(t) {
  const {page, base} = t;
  await page.goto(`${base}/#/dag/e2e_checks/calendar/2026`);
  await page.locator('svg.calendar rect.day[data-date="2026-01-02"][data-state="success"]').waitFor();
  check(await page.locator('svg.calendar rect.day').count() === 365, 'calendar of 2026 has not 365 days');
  check(await page.locator('svg.calendar rect.day[data-state="success"]').count() === 3, 'calendar: 3 days with success');
  check((await page.locator('#calendar-summary').textContent()).startsWith('3 runs on 3 days'), 'calendar summary');
  const cal = await (await fetch(`${base}/api/v1/dags/e2e_checks/calendar?year=2026`)).json();
  check(cal.days.length === 3 && cal.days[0].date === '2026-01-01' && cal.days[0].counts.success === 1,
    'calendar API: ' + JSON.stringify(cal));
  await page.locator('.year-nav a', {hasText: '2025'}).click();
  await t.waitFor('the 2025 calendar', async () => (await page.locator('h1').textContent()).includes('2025'));
  check(await page.locator('svg.calendar rect.day[data-state="none"]').count() === 365, '2025 has no runs');
  t.log('calendar shows the backfilled days');
}

async function ganttShowsTries(t, runId) {
  const {page, base} = t;
  await page.goto(`${base}/#/dag/e2e_mapped/run/${encodeURIComponent(runId)}`);
  await page.locator('svg.gantt g.gantt-row').first().waitFor();
  check(await page.locator('svg.gantt g.gantt-row[data-task="each"]').count() === 4, 'a Gantt row per mapped instance');
  check(await page.locator('svg.gantt line.gantt-tick').count() >= 2, 'the Gantt axis has fewer than 2 ticks');
  const flaky = page.locator('svg.gantt g.gantt-row[data-task="flaky"]');
  check(await flaky.getAttribute('data-try') === '2', 'flaky row is not at try 2');
  check((await flaky.locator('text.gantt-try').textContent()) === 'try 2', 'no try mark on the retried task');
  await flaky.locator('rect.earlier-tries').waitFor();  // asked for its first try's start
  check(await page.locator('svg.gantt rect.queued-bar').count() >= 1, 'no queued segment');
  await page.screenshot({path: path.join(t.outDir, 'f03-gantt.png'), fullPage: true});
  t.log('Gantt shows queued and running segments, ticks and the retry');
}

async function backfillPageShowsProgress(t) {
  const {page, base} = t;
  await page.goto(`${base}/#/backfills`);
  const link = page.locator('table.list tbody a[href^="#/backfills/"]').last();
  await link.click();
  await page.locator('.progress .seg.st-success').waitFor();
  check(await page.locator('table.intervals tbody tr[data-state="success"]').count() === 3, '3 successful intervals');
  check((await page.locator('#backfill-estimate').textContent()).startsWith('ended'), 'estimate of an ended backfill');
  await page.screenshot({path: path.join(t.outDir, 'f04-backfill-done.png'), fullPage: true});
  // A long one, canceled from its page.
  const created = await (await fetch(`${base}/api/v1/backfills`, {method: 'POST',
    headers: {'Content-Type': 'application/json'},
    body: JSON.stringify({dag_id: 'e2e_daily', from: '2026-03-01', to: '2026-12-31', max_active_runs: 1})})).json();
  const id = created.backfill.id;
  await page.goto(`${base}/#/backfills/${id}`);
  await t.waitFor('an estimate', async () => /left|after the first run/.test(await page.locator('#backfill-estimate').textContent()));
  check(await page.locator('table.intervals tbody tr').count() > 300, 'the interval table lists every interval');
  page.once('dialog', (dialog) => dialog.accept());
  await page.locator('#backfill-cancel').click();
  await page.locator('h1 .state.st-canceled').waitFor();
  t.log(`backfill page shows progress and intervals; backfill ${id} canceled from it`);
}

// Every page: light, dark and 390 px wide. Checks that each is not blank,
// that dark mode is dark, and that nothing scrolls sideways at 390 px.
async function themesAndNarrowScreens(t, runId) {
  const {page, base} = t;
  const pages = [
    ['dags', '#/', 'table.dags tbody tr[data-dag]'],
    ['dag', '#/dag/e2e_mapped', 'table.grid a.cell'],
    ['run', `#/dag/e2e_mapped/run/${encodeURIComponent(runId)}`, 'svg.gantt'],
    ['task', `#/dag/e2e_mapped/run/${encodeURIComponent(runId)}/task/flaky`, '#log'],
    ['calendar', '#/dag/e2e_checks/calendar/2026', 'svg.calendar'],
    ['check', '#/dag/e2e_checks/check/checks/status_known', 'svg.check-chart'],
    ['backfills', '#/backfills', 'table.list tbody tr'],
    ['backfill', '#/backfills/1', '.progress'],
    ['alerts', '#/alerts', 'table.list tbody tr'],
    ['sla', '#/sla', 'table.sla-misses'],
    ['workers', '#/workers', 'table.schedulers tbody tr'],
  ];
  // Follows the system setting until the toggle is used.
  await page.emulateMedia({colorScheme: 'dark'});
  await page.goto(`${base}/#/`);
  await page.evaluate(() => localStorage.removeItem('sluice-theme'));
  await page.reload();
  check(await page.evaluate(() => document.documentElement.dataset.theme) === 'dark', 'does not follow a dark system');
  await page.locator('#theme-toggle').click();
  await page.reload();
  check(await page.evaluate(() => document.documentElement.dataset.theme) === 'light', 'the toggle is not remembered');
  const modes = [['light', 1280], ['dark', 1280], ['light', 390]];
  for (const [mode, width] of modes) {
    await page.evaluate((m) => localStorage.setItem('sluice-theme', m), mode);
    await page.setViewportSize({width, height: width === 390 ? 844 : 900});
    let loaded = false;
    for (const [name, hash, ready] of pages) {
      await page.goto(`${base}/${hash}`);
      if (!loaded) await page.reload();  // a new hash alone does not load the page again
      loaded = true;
      await page.locator(ready).first().waitFor();
      const file = path.join(t.outDir, `p-${name}-${mode}${width === 390 ? '-390' : ''}.png`);
      await page.screenshot({path: file, fullPage: true});
      check(fs.statSync(file).size > 4000, `${file} looks blank`);
      const look = await page.evaluate(() => ({
        theme: document.documentElement.dataset.theme,
        bg: getComputedStyle(document.body).backgroundColor,
        fg: getComputedStyle(document.body).color,
        text: document.getElementById('main').innerText.trim().length,
        scrollWidth: document.documentElement.scrollWidth,
      }));
      check(look.text > 20, `${name} (${mode}) shows no text`);
      const bg = luminance(look.bg), fg = luminance(look.fg);
      if (mode === 'dark') {
        check(look.theme === 'dark' && bg < 0.05 && fg > 0.6, `${name} is not dark: ${JSON.stringify(look)}`);
      } else {
        check(bg > 0.8 && fg < 0.1, `${name} is not light: ${JSON.stringify(look)}`);
      }
      if (width === 390) check(look.scrollWidth <= 390, `${name} scrolls sideways at 390 px: ${look.scrollWidth}`);
    }
  }
  await page.setViewportSize({width: 1280, height: 900});
  await page.evaluate(() => localStorage.removeItem('sluice-theme'));
  await page.emulateMedia({colorScheme: 'light'});
  t.log(`${pages.length} pages in light, dark and at 390 px: screenshots p-*.png`);
}

// t: {page, base, outDir, log, waitFor}. Needs the backfill of e2e_daily
// and the three e2e_checks runs of ui_test.mjs's earlier steps.
export async function featureSteps(t) {
  const runId = await triggerWithParamFields(t);
  await mappedCellShowsWorstState(t, runId);
  await gridFeatures(t, runId);
  await pollsSendOnlyChanges(t);
  await dagListFeatures(t);
  await calendarShowsOutcomes(t);
  await ganttShowsTries(t, runId);
  await backfillPageShowsProgress(t);
  await themesAndNarrowScreens(t, runId);
  check(await t.page.evaluate(() => window.__sluice_pwned) === undefined, 'markup from a DAG ran as script');
}
