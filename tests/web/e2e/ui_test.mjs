// Browser test of the Sluice UI. Starts `sluice standalone` on a free port
// over a scratch folder, drives Debian's chromium through playwright-core:
// DAG list -> DAG page -> trigger -> grid turns green -> task log, where a
// logged <script> line must show as text -> run page -> backfill -> SLA misses
// (a real miss, in the DAG's time zone) -> workers and schedulers.
// Screenshots go to the output folder.
//
// Usage: node ui_test.mjs [SLUICE_BINARY] [OUTPUT_DIR]
//   (or the environment variables SLUICE_BINARY, SLUICE_TEST_OUTPUT, CHROMIUM)
// Exit code 0 on success, 1 on failure (with the reason and the server log).

import {spawn} from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {fileURLToPath} from 'node:url';
import {chromium} from 'playwright-core';
import {FEATURE_DAGS, featureSteps} from './ui_features.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const repo = path.resolve(here, '../../..');
const binary = process.argv[2] || process.env.SLUICE_BINARY || path.join(repo, 'build/sluice');
const outDir = path.resolve(process.argv[3] || process.env.SLUICE_TEST_OUTPUT ||
                            path.join(repo, 'test-output/web-e2e'));
const chromiumPath = process.env.CHROMIUM || '/usr/bin/chromium';
const TIMEOUT_MS = 60000;

const DAG = `dag: e2e_demo
description: Browser test DAG
schedule: null
start_date: 2026-01-01
params: {greeting: hello}
tasks:
  - id: hello
    type: shell
    command: "echo '<script>window.__sluice_pwned = 1</script> hello from sluice'"
  - id: after
    type: shell
    depends_on: [hello]
    command: "echo after done"
`;

function log(message) {
  console.log(`[e2e ${new Date().toISOString().slice(11, 23)}] ${message}`);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const {port} = server.address();
      server.close(() => resolve(port));
    });
  });
}

async function waitFor(what, condition, timeoutMs = TIMEOUT_MS) {
  const deadline = Date.now() + timeoutMs;
  let last = null;
  while (Date.now() < deadline) {
    try {
      if (await condition()) return;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}` + (last ? `: ${last.message}` : ''));
}

const DAILY_DAG = `dag: e2e_daily
schedule: "@daily"
timezone: Asia/Tokyo
start_date: 2026-01-01
paused: true
tasks:
  - {id: work, type: shell, command: "true"}
`;

// A scheduled run whose task outlasts its 1 s sla: the scheduler records an
// SLA miss while the rest of the test runs. New York time shows the miss in
// the DAG's time zone, 5 hours off UTC.
const SLA_DAG = `dag: e2e_sla
schedule: "@hourly"
timezone: America/New_York
start_date: 2026-01-01
catchup: false
tasks:
  - id: slow
    type: shell
    command: "sleep 3"
    sla: 1s
`;

// Data checks on a SQLite warehouse: each day loads three orders, one with a
// status outside the accepted values (severity warn, so the runs succeed).
const CHECKS_DAG = `dag: e2e_checks
schedule: "@daily"
start_date: 2026-01-01
paused: true
tasks:
  - id: load
    type: sql
    conn: wh
    sql: |
      CREATE TABLE IF NOT EXISTS orders (day TEXT, status TEXT);
      DELETE FROM orders WHERE day = '{{ ds }}';
      INSERT INTO orders VALUES ('{{ ds }}', 'placed'), ('{{ ds }}', 'shipped'), ('{{ ds }}', 'lost');
  - id: checks
    type: check
    conn: wh
    depends_on: [load]
    checks:
      - {name: day_rows, row_count: {table: orders, where: "day = '{{ ds }}'", min: 1}}
      - {name: status_known, severity: warn,
         accepted_values: {table: orders, column: status, values: [placed, shipped],
                           where: "day = '{{ ds }}'"}}
`;

// A mapped task whose instance 1 fails (so `after` is upstream_failed and
// the run fails), in a zone 5:30 off UTC, with a webhook nobody answers: its
// failure alert stays undelivered on the Alerts page.
const INSTANCES_DAG = `dag: e2e_instances
schedule: null
timezone: Asia/Kolkata
start_date: 2026-01-01
alerts: {webhook: "http://127.0.0.1:9/hook", on: [failure]}
tasks:
  - id: each
    type: shell
    map: {items: [a, b, c]}
    command: 'echo "item {{ item }}"; test "{{ item }}" != b'
  - id: after
    type: shell
    depends_on: [each]
    command: echo after
`;

// A log larger than one page (1 MB) and cut by logs.max_bytes_per_try.
const BIGLOG_DAG = `dag: e2e_biglog
schedule: null
start_date: 2026-01-01
tasks:
  - id: chatty
    type: shell
    command: "yes 'line of a long log, 40 bytes wide......' | head -c 2000000"
`;

// The defects of issue [L] 2-7, each as a user meets it: mapped instances
// have their own pages and actions; a mark says what it will do and keeps
// the try's times; long logs page and say they were cut; times on the
// alerts and backfills pages are in the DAG's zone; unknown pages say so and
// stop polling.
async function instanceAndLogChecks(page, base, pageErrors) {
  const api = async (p, init) => {
    const res = await fetch(base + '/api/v1' + p, init);
    if (!res.ok) throw new Error(`${p}: ${res.status} ${await res.text()}`);
    return res.json();
  };
  const post = (p, body) => api(p, {method: 'POST', headers: {'Content-Type': 'application/json'},
    body: JSON.stringify(body)});
  await waitFor('e2e_instances to be stored', async () =>
    (await fetch(base + '/api/v1/dags/e2e_instances')).status === 200);
  const run = await post('/dags/e2e_instances/runs', {});
  const runPath = `/dags/e2e_instances/runs/${encodeURIComponent(run.run_id)}`;
  await waitFor('the mapped run to fail', async () => (await api(runPath)).state === 'failed');

  // Each instance has its own row, link and page.
  await page.goto(`${base}/#/dag/e2e_instances/run/${encodeURIComponent(run.run_id)}`);
  await page.locator('table.tasks tr[data-task="each"][data-map-index="1"] .state.st-failed').waitFor();
  await page.locator('table.tasks tr[data-task="each"][data-map-index="2"] a', {hasText: 'each[2]'}).click();
  await page.locator('h1', {hasText: 'each[2]'}).waitFor();
  if (!page.url().includes('/task/each/map/2')) throw new Error(`instance link went to ${page.url()}`);
  await waitFor('the log of instance 2', async () =>
    ((await page.locator('#log').textContent()) || '').includes('item c'));
  log('mapped instance 2 has its own page and log');

  // Mark instance 1 success: the dialog says `after` stays upstream_failed
  // and the run stays failed; "Mark and clear downstream" runs it again.
  const before = await api(`${runPath}/tasks/each?map_index=1`);
  await page.goto(`${base}/#/dag/e2e_instances/run/${encodeURIComponent(run.run_id)}`);
  await page.locator('table.tasks tr[data-task="each"][data-map-index="1"] button[data-action="mark-success"]').click();
  const dialog = page.locator('dialog#confirm-dialog');
  await dialog.waitFor();
  const said = await dialog.textContent();
  for (const expected of ['each[1] becomes success', 'after is upstream_failed', 'The run stays failed']) {
    if (!said.includes(expected)) throw new Error(`mark dialog lacks '${expected}': ${said}`);
  }
  if ((await api(`${runPath}/tasks/each?map_index=1`)).state !== 'failed') {
    throw new Error('the mark happened before it was confirmed');
  }
  await page.screenshot({path: path.join(outDir, '11-mark-dialog.png'), fullPage: true});
  await dialog.locator('button[data-choice="mark-clear"]').click();
  await waitFor('the run to succeed after the mark and clear', async () => (await api(runPath)).state === 'success');
  const after = await api(`${runPath}/tasks/each?map_index=1`);
  if (after.started_at !== before.started_at || after.ended_at !== before.ended_at || after.exit_code !== before.exit_code) {
    throw new Error(`the mark rewrote the try: ${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
  }
  if ((await api(`${runPath}/tasks/each?map_index=0`)).marked_at !== null) throw new Error('instance 0 was marked');
  await page.goto(`${base}/#/dag/e2e_instances/run/${encodeURIComponent(run.run_id)}/task/each/map/1`);
  await page.locator('#marked', {hasText: 'success by hand'}).waitFor();
  log('mark asked first, said what stays, kept the try\'s times');

  // The alert of the failed run shows its time in Asia/Kolkata.
  await page.goto(`${base}/#/alerts`);
  const alertRow = page.locator('table.list tbody tr', {hasText: 'e2e_instances'}).first();
  await alertRow.waitFor();
  const alerts = await api('/alerts?limit=50');
  const mine = alerts.find((a) => a.dag_id === 'e2e_instances');
  const clock = (iso, timeZone) => new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit', minute: '2-digit', hour12: false, timeZone}).format(new Date(iso));
  const created = await alertRow.locator('td.created').textContent();
  if (!created.includes(clock(mine.created_at, 'Asia/Kolkata'))) {
    throw new Error(`alert time '${created}' is not in Asia/Kolkata (${mine.created_at})`);
  }
  log('alerts page shows the DAG\'s zone');

  // A 2 MB log cut at 1.5 MB: one page of 1 MB, then "Show the end" reaches
  // the worker's note, and the page says the log was cut.
  await waitFor('e2e_biglog to be stored', async () =>
    (await fetch(base + '/api/v1/dags/e2e_biglog')).status === 200);
  const big = await post('/dags/e2e_biglog/runs', {});
  const bigPath = `/dags/e2e_biglog/runs/${encodeURIComponent(big.run_id)}`;
  await waitFor('the chatty run to end', async () => (await api(bigPath)).state === 'success');
  log('the chatty run ended');
  await page.goto(`${base}/#/dag/e2e_biglog/run/${encodeURIComponent(big.run_id)}/task/chatty`);
  await page.locator('#log-truncated:not([hidden])').waitFor();
  await page.locator('#log-more:not([hidden])').waitFor();
  const footer = await page.locator('#log-footer').textContent();
  if (!footer.includes('of 1.5 MB') || !footer.includes('more below')) throw new Error(`log footer: ${footer}`);
  await page.locator('#log-tail').click();
  await waitFor('the end of the log', async () =>
    ((await page.locator('#log').textContent()) || '').includes('log truncated'));
  await waitFor('the footer to say the try finished', async () =>
    ((await page.locator('#log-footer').textContent()) || '').includes('finished'));
  await page.screenshot({path: path.join(outDir, '12-long-log.png'), fullPage: true});
  log('long log pages, reaches its end and says it was cut');

  // Unknown pages say so, and an unknown DAG's page stops asking the API.
  // (The browser reports each 404 answer on the console: those are expected.)
  const errorsBefore = pageErrors.length;
  let asked = 0;
  page.on('request', (r) => { if (r.url().includes('/api/v1/dags/no_such_dag')) asked += 1; });
  await page.goto(`${base}/#/dag/no_such_dag`);
  await page.locator('#not-found', {hasText: "no DAG 'no_such_dag'"}).waitFor();
  await new Promise((r) => setTimeout(r, 3000));
  if (asked > 2) throw new Error(`the unknown DAG page asked the API ${asked} times in 3 s`);
  await page.goto(`${base}/#/dag/e2e_instances/run/${encodeURIComponent(run.run_id)}/task/nope`);
  await page.locator('#not-found', {hasText: "no task 'nope'"}).waitFor();
  await page.goto(`${base}/#/nonsense`);
  await page.locator('#not-found', {hasText: 'no page #/nonsense'}).waitFor();
  await page.screenshot({path: path.join(outDir, '13-not-found.png'), fullPage: true});
  const unexpected = pageErrors.splice(errorsBefore).filter((e) => !e.includes('status of 404'));
  pageErrors.push(...unexpected);
  log('unknown DAG, task and page each say so');
}

async function main() {
  fs.mkdirSync(outDir, {recursive: true});
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-e2e-'));
  fs.mkdirSync(path.join(scratch, 'dags'));
  fs.writeFileSync(path.join(scratch, 'dags/e2e_demo.yaml'), DAG);
  fs.writeFileSync(path.join(scratch, 'dags/e2e_daily.yaml'), DAILY_DAG);
  fs.writeFileSync(path.join(scratch, 'dags/e2e_sla.yaml'), SLA_DAG);
  fs.writeFileSync(path.join(scratch, 'dags/e2e_checks.yaml'), CHECKS_DAG);
  fs.writeFileSync(path.join(scratch, 'dags/e2e_instances.yaml'), INSTANCES_DAG);
  fs.writeFileSync(path.join(scratch, 'dags/e2e_biglog.yaml'), BIGLOG_DAG);
  fs.writeFileSync(path.join(scratch, 'sluice.yaml'), 'logs: {max_bytes_per_try: 1500KB}\n');
  for (const [file, text] of Object.entries(FEATURE_DAGS)) fs.writeFileSync(path.join(scratch, 'dags', file), text);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const serverLogPath = path.join(outDir, 'standalone.log');
  const serverLog = fs.openSync(serverLogPath, 'w');

  log(`starting ${binary} standalone on port ${port} in ${scratch}`);
  const server = spawn(binary, ['standalone', '--port', String(port), '--slots', '2'], {
    cwd: scratch,
    env: Object.assign({}, process.env, {
      SLUICE_DB: 'sqlite://' + path.join(scratch, 'sluice.db'),
      SLUICE_DAGS: path.join(scratch, 'dags'),
      SLUICE_API_TOKEN: '',
      SLUICE_CONN_WH: 'sqlite://' + path.join(scratch, 'warehouse.db'),
    }),
    stdio: ['ignore', serverLog, serverLog],
    detached: true,
  });
  let serverExited = null;
  server.on('exit', (code, signal) => { serverExited = {code, signal}; });

  let context = null;
  const pageErrors = [];
  let ok = false;
  try {
    await waitFor('/healthz', async () => {
      if (serverExited) throw new Error(`sluice exited early: ${JSON.stringify(serverExited)}`);
      const res = await fetch(base + '/healthz');
      return res.status === 200;
    });
    log('server is healthy');

    context = await chromium.launchPersistentContext(fs.mkdtempSync(path.join(os.tmpdir(), 'sluice-chromium-')), {
      executablePath: chromiumPath,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
             '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      viewport: {width: 1280, height: 900},
    });
    const page = context.pages()[0] || await context.newPage();
    page.setDefaultTimeout(TIMEOUT_MS);
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push('console: ' + m.text()); });
    // Nothing may be fetched from anywhere but the server under test.
    await page.route('**/*', (route) => {
      const url = route.request().url();
      if (url.startsWith(base + '/')) return route.continue();
      pageErrors.push('request to another origin: ' + url);
      return route.abort();
    });

    // The DAG list shows the DAG once the scheduler has read its file.
    await page.goto(base + '/#/');
    await page.locator('a.dag-link', {hasText: 'e2e_demo'}).waitFor();
    await page.screenshot({path: path.join(outDir, '01-dag-list.png'), fullPage: true});
    log('DAG list shows e2e_demo');

    // The DAG page: graph and trigger form.
    await page.locator('a.dag-link', {hasText: 'e2e_demo'}).click();
    await page.locator('svg.graph g[data-task="after"]').waitFor();
    await page.locator('details.trigger summary').click();
    await page.locator('#trigger-raw').check();
    await page.locator('#trigger-conf').fill('{"greeting": "hi from the browser"}');
    await page.locator('#trigger-button').click();
    const created = page.locator('.trigger-result a');
    await created.waitFor();
    const runId = (await created.textContent()).trim();
    if (!runId.startsWith('manual__')) throw new Error(`unexpected run id '${runId}'`);
    log(`triggered ${runId}`);

    // The grid turns green without a reload.
    for (const task of ['hello', 'after']) {
      await page.locator(`table.grid a.cell[data-run="${runId}"][data-task="${task}"][data-state="success"]`)
        .waitFor({timeout: TIMEOUT_MS});
    }
    await page.locator(`table.grid a.bar.st-success[data-run="${runId}"]`).waitFor();
    await page.screenshot({path: path.join(outDir, '02-dag-grid-green.png'), fullPage: true});
    log('grid is green');

    // The task log shows the <script> line as text, and it never ran (the
    // grid cell opens the panel; its link leads to the full log page).
    await page.locator(`table.grid a.cell[data-run="${runId}"][data-task="hello"]`).click();
    await waitFor('the panel log', async () =>
      ((await page.locator('#panel-log').textContent()) || '').includes('hello from sluice'));
    await page.locator('#ti-panel a', {hasText: 'full log page'}).first().click();
    await waitFor('the log text', async () =>
      ((await page.locator('#log').textContent()) || '').includes('hello from sluice'));
    const text = await page.locator('#log').textContent();
    if (!text.includes('<script>window.__sluice_pwned = 1</script> hello from sluice')) {
      throw new Error(`log does not show the <script> line as text: ${JSON.stringify(text)}`);
    }
    if (await page.locator('#log script').count() !== 0) throw new Error('the log holds a <script> element');
    if (await page.evaluate(() => window.__sluice_pwned) !== undefined) throw new Error('logged script ran');
    await page.screenshot({path: path.join(outDir, '03-task-log.png'), fullPage: true});
    log('task log shows <script> as text');

    // The run page: task table and Gantt chart.
    await page.goto(`${base}/#/dag/e2e_demo/run/${encodeURIComponent(runId)}`);
    await page.locator('table.tasks tr[data-task="after"] .state.st-success').waitFor();
    await page.locator('svg.gantt rect.bar').first().waitFor();
    await page.screenshot({path: path.join(outDir, '04-run.png'), fullPage: true});
    log('run page shows tasks and Gantt chart');

    // Backfill from the DAG page: a dry-run preview, then the backfills page.
    await page.goto(`${base}/#/dag/e2e_daily`);
    await page.locator('details.backfill summary').click();
    await page.locator('#backfill-from').fill('2026-01-01');
    await page.locator('#backfill-to').fill('2026-01-03');
    await page.locator('#backfill-preview').click();
    await waitFor('the backfill preview', async () =>
      ((await page.locator('details.backfill .trigger-result').textContent()) || '')
        .includes('Would create 3 runs, re-run 0, skip 0.'));
    await page.locator('#backfill-start').click();
    await page.locator('details.backfill .trigger-result a').waitFor();
    await page.screenshot({path: path.join(outDir, '05-backfill-form.png'), fullPage: true});
    await page.locator('nav a[href="#/backfills"]').click();
    await waitFor('the backfill to succeed', async () =>
      ((await page.locator('table.list tbody').textContent()) || '').includes('3/3 done'));
    // Shown in the DAG's zone: the first interval starts at midnight in Tokyo
    // (15:00 the day before in UTC).
    const fromCell = await page.locator('table.list tbody tr td.from').first().textContent();
    if (!fromCell.includes('2026-01-01 00:00')) throw new Error(`backfill 'from' not in Asia/Tokyo: ${fromCell}`);
    await page.screenshot({path: path.join(outDir, '06-backfills.png'), fullPage: true});
    log('backfill previewed, started and done');

    // SLA misses: the nav link opens the view; the miss of e2e_sla shows with
    // its run, task and kind, times in America/New_York.
    await page.locator('nav a[href="#/sla"]').click();
    await page.locator('h1', {hasText: 'SLA misses'}).waitFor();
    const missRow = page.locator('table.sla-misses tbody tr[data-dag="e2e_sla"][data-kind="sla"]');
    await missRow.first().waitFor({timeout: TIMEOUT_MS});
    const misses = await (await fetch(base + '/api/v1/sla-misses?dag=e2e_sla')).json();
    if (misses.length !== 1 || misses[0].timezone !== 'America/New_York') {
      throw new Error('unexpected SLA misses from the API: ' + JSON.stringify(misses));
    }
    const rowText = await missRow.first().textContent();
    const clock = (iso, timeZone) => new Intl.DateTimeFormat('en-GB', {
      hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false, timeZone,
    }).format(new Date(iso));
    for (const expected of [misses[0].run_id, 'slow', 'sla', clock(misses[0].detected_at, 'America/New_York'),
                            clock(misses[0].deadline, 'America/New_York')]) {
      if (!rowText.includes(expected)) throw new Error(`SLA miss row lacks '${expected}': ${rowText}`);
    }
    if (rowText.includes(clock(misses[0].detected_at, 'UTC'))) {
      throw new Error(`SLA miss row shows UTC rather than the DAG's time zone: ${rowText}`);
    }
    await page.screenshot({path: path.join(outDir, '07-sla-misses.png'), fullPage: true});
    log('SLA misses view shows the miss of e2e_sla');

    // Data checks: three days backfilled; the task page lists each check's
    // result and the check page charts its value per interval.
    await waitFor('e2e_checks to be stored', async () =>
      (await fetch(base + '/api/v1/dags/e2e_checks')).status === 200);
    const backfill = await fetch(base + '/api/v1/backfills', {method: 'POST',
      headers: {'Content-Type': 'application/json'},
      body: JSON.stringify({dag_id: 'e2e_checks', from: '2026-01-01', to: '2026-01-03'})});
    if (backfill.status !== 201 && backfill.status !== 200) {
      throw new Error('backfill of e2e_checks: ' + backfill.status + ' ' + await backfill.text());
    }
    let checkRuns = [];
    await waitFor('three successful e2e_checks runs', async () => {
      checkRuns = await (await fetch(base + '/api/v1/dags/e2e_checks/runs')).json();
      return checkRuns.length === 3 && checkRuns.every((r) => r.state === 'success');
    });
    const lastRun = checkRuns.map((r) => r.run_id).sort().pop();
    await page.goto(`${base}/#/dag/e2e_checks/run/${encodeURIComponent(lastRun)}/task/checks`);
    await page.locator('table.checks tr[data-check="day_rows"] .state.st-success').waitFor();
    const warned = page.locator('table.checks tr[data-check="status_known"]');
    await warned.locator('.state', {hasText: 'warn'}).waitFor();
    const warnText = await warned.textContent();
    if (!warnText.includes('1 row with other values')) throw new Error(`warned check row: ${warnText}`);
    await page.screenshot({path: path.join(outDir, '08-task-checks.png'), fullPage: true});
    await warned.locator('a').click();
    await page.locator('h1', {hasText: 'status_known'}).waitFor();
    await waitFor('a chart point per interval', async () =>
      await page.locator('svg.check-chart circle.point').count() === 3);
    const historyRows = await page.locator('table.check-history tbody tr').count();
    if (historyRows !== 3) throw new Error(`check history shows ${historyRows} rows, not 3`);
    await page.screenshot({path: path.join(outDir, '09-check-page.png'), fullPage: true});
    log('task page lists check results; check page charts them per interval');

    await instanceAndLogChecks(page, base, pageErrors);

    // Workers page: the standalone scheduler shows as leader.
    await page.locator('nav a[href="#/workers"]').click();
    await page.locator('table.schedulers tbody td', {hasText: 'leader'}).waitFor();
    await page.screenshot({path: path.join(outDir, '10-workers.png'), fullPage: true});
    log('workers page lists the scheduler');

    // The UI's features (ui_features.mjs).
    await featureSteps({page, base, outDir, log, waitFor});

    if (pageErrors.length) throw new Error('the page reported errors:\n' + pageErrors.join('\n'));
    ok = true;
  } catch (e) {
    console.error(`FAILED: ${e.stack || e}`);
    if (pageErrors.length) console.error('page errors:\n' + pageErrors.join('\n'));
    if (context) {
      const pages = context.pages();
      if (pages.length) {
        await pages[0].screenshot({path: path.join(outDir, 'failure.png'), fullPage: true}).catch(() => {});
      }
    }
    console.error(`--- standalone log (${serverLogPath}) ---`);
    console.error(fs.readFileSync(serverLogPath, 'utf8').slice(-6000));
  } finally {
    if (context) await context.close().catch(() => {});
    if (!serverExited) {
      try { process.kill(-server.pid, 'SIGTERM'); } catch (e) { /* gone */ }
      await waitFor('sluice to stop', async () => serverExited !== null, 15000).catch(() => {
        try { process.kill(-server.pid, 'SIGKILL'); } catch (e) { /* gone */ }
      });
    }
    fs.closeSync(serverLog);
    if (ok) fs.rmSync(scratch, {recursive: true, force: true});
  }
  log(ok ? `passed; screenshots in ${outDir}` : `failed; screenshots in ${outDir}`);
  process.exit(ok ? 0 : 1);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
