// Sluice browser UI: a single page app over /api/v1, with hash routes and
// polling. Every value from the API reaches the page through text nodes and
// attributes (el() below), never parsed as markup.
'use strict';

(function () {
  const POLL_MS = 1500;
  const GRID_RUNS = 25;
  const SVG_NS = 'http://www.w3.org/2000/svg';
  const main = document.getElementById('main');
  const banner = document.getElementById('banner');

  // ---- DOM helpers

  function append(node, ...children) {
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function setAttrs(node, attrs) {
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (key.startsWith('on') && typeof value === 'function') {
        node.addEventListener(key.slice(2), value);
      } else if (key === 'class') {
        node.setAttribute('class', value);
      } else {
        node.setAttribute(key, value === true ? '' : String(value));
      }
    }
  }

  // el('a', {href: '#/x'}, 'text', child...): strings become text nodes.
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    setAttrs(node, attrs);
    return append(node, children);
  }

  function sv(tag, attrs, ...children) {
    const node = document.createElementNS(SVG_NS, tag);
    setAttrs(node, attrs);
    return append(node, children);
  }

  function replace(node, ...children) {
    node.replaceChildren();
    return append(node, children);
  }

  function enc(part) {
    return encodeURIComponent(part);
  }

  function dagHref(dag) { return '#/dag/' + enc(dag); }
  function runHref(dag, run) { return dagHref(dag) + '/run/' + enc(run); }
  // A task instance's page; a mapped task's instances each have their own.
  function taskHref(dag, run, task, tryNumber, mapIndex) {
    return runHref(dag, run) + '/task/' + enc(task) +
      (mapIndex !== undefined && mapIndex !== null && mapIndex >= 0 ? '/map/' + mapIndex : '') +
      (tryNumber ? '/try/' + tryNumber : '');
  }

  // The query that addresses one instance of a task in the API ('' for an unmapped task).
  function instanceQuery(mapIndex) {
    return mapIndex !== undefined && mapIndex !== null && mapIndex >= 0 ? 'map_index=' + mapIndex : '';
  }
  function withQuery(path, query) {
    return query ? path + (path.includes('?') ? '&' : '?') + query : path;
  }
  function instanceLabel(taskId, mapIndex) {
    return mapIndex !== undefined && mapIndex !== null && mapIndex >= 0 ? taskId + '[' + mapIndex + ']' : taskId;
  }

  function checkHref(dag, task, name) {
    return dagHref(dag) + '/check/' + enc(task) + '/' + enc(name);
  }

  // A check result's status (pass, fail, warn, error) in the state colours.
  function checkColour(status) {
    return {pass: 'success', fail: 'failed', warn: 'up_for_retry', error: 'failed'}[status] || 'none';
  }
  function checkBadge(status) {
    return el('span', {class: 'state st-' + checkColour(status)}, status);
  }

  function stateBadge(state) {
    return el('span', {class: 'state st-' + (state || 'none')}, state || 'none');
  }

  // ---- formatting

  const formatters = new Map();
  function formatter(tz) {
    const zone = tz || 'UTC';
    if (!formatters.has(zone)) {
      const options = {
        year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit',
        second: '2-digit', hour12: false, timeZoneName: 'short', timeZone: zone,
      };
      let f;
      try {
        f = new Intl.DateTimeFormat('sv-SE', options);
      } catch (e) {
        f = new Intl.DateTimeFormat('sv-SE', Object.assign(options, {timeZone: 'UTC'}));
      }
      formatters.set(zone, f);
    }
    return formatters.get(zone);
  }

  function fmtTime(iso, tz) {
    if (!iso) return '';
    return formatter(tz).format(new Date(iso));
  }

  function fmtDuration(ms) {
    if (ms === null || ms === undefined) return '';
    if (ms < 1000) return ms + 'ms';
    let s = Math.round(ms / 1000);
    const h = Math.floor(s / 3600); s -= h * 3600;
    const m = Math.floor(s / 60); s -= m * 60;
    return (h ? h + 'h ' : '') + (h || m ? m + 'm ' : '') + s + 's';
  }

  function durationBetween(start, end) {
    if (!start) return null;
    return (end ? new Date(end) : new Date()) - new Date(start);
  }

  function fmtBytes(n) {
    if (n < 1024) return n + ' B';
    if (n < 1024 * 1024) return (n / 1024).toFixed(1) + ' KB';
    return (n / 1024 / 1024).toFixed(1) + ' MB';
  }

  // ---- API

  class ApiError extends Error {
    constructor(status, message) {
      super(message);
      this.status = status;
    }
  }

  async function api(method, path, body) {
    const options = {method: method, headers: {'Accept': 'application/json'}, credentials: 'same-origin'};
    if (body !== undefined) {
      options.headers['Content-Type'] = 'application/json';
      options.body = JSON.stringify(body);
    }
    const res = await fetch('api/v1' + path, options);
    let data = null;
    try {
      data = await res.json();
    } catch (e) {
      data = null;
    }
    if (res.status === 401 && path !== '/session') {
      showLogin();
      throw new ApiError(401, 'a token is needed');
    }
    if (!res.ok) {
      throw new ApiError(res.status, (data && data.error) || ('HTTP ' + res.status));
    }
    return data;
  }

  // Errors of the last action stay until the next action or page; errors of
  // polling clear as soon as a refresh succeeds.
  const errors = {action: null, poll: null};
  function showError(message, kind) {
    errors[kind || 'poll'] = message ? String(message) : null;
    const text = [errors.action, errors.poll].filter((m) => m).join('\n');
    banner.hidden = !text;
    replace(banner, text);
  }

  // Each DAG's time zone, for pages that list several DAGs (alerts,
  // backfills): times are shown in the zone of the DAG they belong to.
  let zoneCache = {at: 0, zones: null};
  async function dagZones() {
    if (!zoneCache.zones || Date.now() - zoneCache.at > 30000) {
      const zones = {};
      for (const d of await api('GET', '/dags')) zones[d.dag_id] = d.timezone;
      zoneCache = {at: Date.now(), zones: zones};
    }
    return zoneCache.zones;
  }

  // A modal question with buttons; resolves to the chosen button's value
  // (null when dismissed). `lines` say what the action will change.
  function askFirst(title, lines, choices) {
    return new Promise((resolve) => {
      const dialog = el('dialog', {class: 'confirm', id: 'confirm-dialog'});
      const done = (value) => {
        dialog.close();
        dialog.remove();
        resolve(value);
      };
      append(dialog, el('h2', null, title),
        el('ul', {class: 'consequences'}, lines.map((l) => el('li', null, l))),
        el('div', {class: 'actions'}, choices.filter((c) => c).map((c) => {
          const b = el('button', {type: 'button', class: c.value ? 'primary' : '', 'data-choice': c.value || 'cancel'}, c.label);
          b.addEventListener('click', () => done(c.value));
          return [b, ' '];
        })));
      dialog.addEventListener('cancel', (e) => { e.preventDefault(); done(null); });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  // Runs an action from a button, showing its error; refreshes the page after.
  async function act(button, fn) {
    if (button) button.disabled = true;
    try {
      await fn();
      showError(null, 'action');
    } catch (e) {
      if (e.status !== 401) showError(e.message, 'action');
    } finally {
      if (button) button.disabled = false;
    }
    poller.kick();
  }

  // ---- login (only when the server has an API token)

  let loginShown = false;
  function showLogin() {
    if (loginShown) return;
    loginShown = true;
    const input = el('input', {type: 'password', id: 'token', autocomplete: 'current-password',
                               placeholder: 'API token'});
    const message = el('p', {class: 'error'});
    const form = el('form', {class: 'login', id: 'login-form'},
      el('h2', null, 'Sign in'),
      el('p', null, 'This Sluice server needs its API token (SLUICE_API_TOKEN).'),
      input, el('button', {type: 'submit'}, 'Sign in'), message);
    const overlay = el('div', {class: 'overlay'}, form);
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        await api('POST', '/session', {token: input.value});
        overlay.remove();
        loginShown = false;
        route();
      } catch (e) {
        replace(message, e.message);
      }
    });
    document.body.append(overlay);
    input.focus();
  }

  // ---- polling: one refresh at a time, every POLL_MS

  const poller = {
    timer: null,
    page: null,
    start(page) {
      this.page = page;
      this.kick();
    },
    kick() {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.tick(), 0);
    },
    async tick() {
      const page = this.page;
      if (!page || page.busy) return;  // the running refresh reschedules
      page.busy = true;
      try {
        await page.refresh();
        if (page === this.page) showError(null);
      } catch (e) {
        if (page === this.page && e.status === 404) {
          // The DAG, run or task is not there: say so and stop asking.
          page.gone = true;
          showError(null);
          main.replaceChildren(notFoundView(e.message));
        } else if (page === this.page && e.status !== 401) {
          showError(e.message);
        }
      } finally {
        page.busy = false;
      }
      if (page === this.page && !page.gone) {
        clearTimeout(this.timer);
        this.timer = setTimeout(() => this.tick(), POLL_MS);
      }
    },
  };

  function notFoundView(message) {
    return el('section', {class: 'not-found', id: 'not-found'},
      el('h1', null, 'Not found'), el('p', null, message),
      el('p', null, el('a', {href: '#/'}, 'All DAGs')));
  }

  // A route the UI does not know: said plainly, never polled.
  function unknownPage(hash) {
    return {
      title: 'Not found',
      mount(root) {
        append(root, notFoundView('There is no page ' + hash + ' in Sluice.'));
      },
      async refresh() {
        this.gone = true;
      },
    };
  }

  // ---- pause toggle

  function pauseToggle(dag) {
    const paused = !!dag.paused;
    const button = el('button', {
      class: 'toggle ' + (paused ? 'off' : 'on'),
      title: paused ? 'Paused: click to unpause' : 'Active: click to pause',
      'data-dag': dag.dag_id,
      'aria-pressed': paused ? 'false' : 'true',
    }, paused ? 'paused' : 'on');
    button.addEventListener('click', () => act(button, () =>
      api('POST', '/dags/' + enc(dag.dag_id) + (paused ? '/unpause' : '/pause'))));
    return button;
  }

  // The next run as `sluice dags list` shows it: its interval's start, and
  // from when the scheduler creates it; a paused DAG creates none.
  function nextRunView(dag) {
    if (dag.paused && dag.schedule !== null) return el('span', {class: 'muted'}, 'paused');
    const next = dag.next_run;
    if (!next) return '';
    const due = Date.parse(next.run_after) <= Date.now();
    return [fmtTime(next.data_interval_start, dag.timezone),
      el('div', {class: 'muted small'}, due ? 'due now' : 'runs after ' + fmtTime(next.run_after, dag.timezone))];
  }

  // ---- DAG list (dag_list.js)

  function dagsPage() { return Sluice.pages.dags(); }

  // ---- DAG page

  // ---- backfills

  function backfillProgress(b) {
    const p = b.progress;
    if (!p) return b.succeeded_runs + '/' + b.total_runs + ' done, ' + b.failed_runs + ' failed';
    return p.done + '/' + p.total + ' done, ' + p.failed + ' failed, ' + p.running + ' running, ' +
      p.pending + ' pending, ' + p.skipped + ' skipped';
  }

  // The backfill form of the DAG page: a dry-run preview, then the real thing.
  function buildBackfillForm(box, dagId) {
    const from = el('input', {id: 'backfill-from', type: 'text', placeholder: '2026-01-01'});
    const to = el('input', {id: 'backfill-to', type: 'text', placeholder: '2026-01-31'});
    const reprocess = el('select', {id: 'backfill-reprocess'},
      el('option', {value: 'none'}, 'none: only intervals with no run'),
      el('option', {value: 'failed'}, 'failed: also re-run failed ones'),
      el('option', {value: 'all'}, 'all: also re-run completed ones'));
    const maxActive = el('input', {id: 'backfill-max-active', type: 'number', min: '1', placeholder: "DAG's max_active_runs"});
    const result = el('div', {class: 'trigger-result'});
    function request(dryRun) {
      const body = {dag_id: dagId, from: from.value.trim(), to: to.value.trim(),
                    reprocess: reprocess.value, dry_run: dryRun};
      if (maxActive.value.trim()) body.max_active_runs = parseInt(maxActive.value, 10);
      return body;
    }
    const preview = el('button', {id: 'backfill-preview', type: 'button'}, 'Preview (dry run)');
    preview.addEventListener('click', () => act(preview, async () => {
      const [plan, zones] = await Promise.all([api('POST', '/backfills', request(true)), dagZones()]);
      const tz = zones[dagId];
      const counts = {create: 0, rerun: 0, skip: 0};
      plan.intervals.forEach((i) => { counts[i.action] += 1; });
      replace(result,
        el('p', null, 'Would create ' + counts.create + ' runs, re-run ' + counts.rerun + ', skip ' + counts.skip + '.'),
        el('table', {class: 'list'}, el('thead', null, el('tr', null,
          ['interval start (' + (tz || 'UTC') + ')', 'action', 'reason', 'existing run'].map((h) => el('th', null, h)))),
          el('tbody', null, plan.intervals.map((i) => el('tr', null,
            el('td', {class: 'interval-start'}, fmtTime(i.data_interval_start, tz)), el('td', null, i.action),
            el('td', null, i.reason), el('td', null, i.existing_run_id || ''))))));
    }));
    const start = el('button', {id: 'backfill-start', type: 'button'}, 'Start backfill');
    start.addEventListener('click', () => act(start, async () => {
      const plan = await api('POST', '/backfills', request(false));
      replace(result, 'Backfill ', el('a', {href: '#/backfills/' + plan.backfill.id}, String(plan.backfill.id)),
        ' created: the scheduler runs ' + plan.backfill.total_runs + ' runs.');
    }));
    append(box,
      el('label', {for: 'backfill-from'}, 'from (first day or timestamp, in the DAG\'s time zone)'), from,
      el('label', {for: 'backfill-to'}, 'to (last day, included, or timestamp)'), to,
      el('label', {for: 'backfill-reprocess'}, 'reprocess'), reprocess,
      el('label', {for: 'backfill-max-active'}, 'max active runs'), maxActive,
      el('div', null, preview, ' ', start), result);
  }

  function backfillsPage() {
    const tbody = el('tbody');
    return {
      title: 'Backfills',
      mount(root) {
        append(root, el('h1', null, 'Backfills'),
          el('p', {class: 'muted small'}, 'Times are in each DAG\u2019s time zone.'), el('table', {class: 'list'}, el('thead', null, el('tr', null,
          ['id', 'DAG', 'from', 'to', 'reprocess', 'state', 'progress', 'created', ''].map((h) => el('th', null, h)))), tbody));
      },
      async refresh() {
        const [list, zones] = await Promise.all([api('GET', '/backfills'), dagZones()]);
        const details = await Promise.all(list.filter((b) => b.state === 'running')
          .map((b) => api('GET', '/backfills/' + b.id)));
        const byId = {};
        details.forEach((d) => { byId[d.id] = d; });
        replace(tbody, list.length === 0 ? el('tr', null, el('td', {colspan: 9, class: 'muted'}, 'No backfills.')) :
          list.map((b) => {
            const cancel = el('button', {type: 'button'}, 'Cancel');
            cancel.addEventListener('click', () => act(cancel, () => api('POST', '/backfills/' + b.id + '/cancel')));
            return el('tr', null,
              el('td', null, el('a', {href: '#/backfills/' + b.id}, String(b.id))),
              el('td', null, el('a', {href: dagHref(b.dag_id)}, b.dag_id)),
              el('td', {class: 'from'}, fmtTime(b.from, zones[b.dag_id])), el('td', null, fmtTime(b.to, zones[b.dag_id])),
              el('td', null, b.reprocess), el('td', null, stateBadge(b.state)),
              el('td', null, backfillProgress(byId[b.id] || b)),
              el('td', null, fmtTime(b.created_at, zones[b.dag_id])),
              el('td', null, b.state === 'running' ? cancel : ''));
          }));
      },
    };
  }

  function dagPage(dagId) { return Sluice.pages.dag(dagId); }

  // ---- run page

  function ganttChart(run, tasks, tz) { return Sluice.ganttChart(run, tasks, tz); }

  function runPage(dagId, runId) {
    const header = el('div');
    const actions = el('div', {class: 'actions'});
    const tbody = el('tbody');
    const gantt = el('div', {class: 'gantt-box'});
    const base = '/dags/' + enc(dagId) + '/runs/' + enc(runId);

    function taskActions(t) {
      const path = base + '/tasks/' + enc(t.task_id);
      const query = instanceQuery(t.map_index);
      const label = instanceLabel(t.task_id, t.map_index);
      const clear = el('button', {type: 'button', title: 'Clear this task and its downstream', 'data-action': 'clear'}, 'clear');
      clear.addEventListener('click', () => act(clear, async () => {
        const plan = await api('POST', withQuery(path + '/clear', query), {dry_run: true});
        const names = plan.instances.map((i) => instanceLabel(i.task_id, i.map_index));
        const choice = await askFirst('Clear ' + label + '?', [
          'Clears ' + names.length + ' task instance(s): ' + names.join(', ') + '.',
          'They run again with fresh tries; the run goes back to running.',
          'Other tasks keep their state.'], [{label: 'Clear', value: 'clear'}, {label: 'Cancel', value: null}]);
        if (choice) await api('POST', withQuery(path + '/clear', query), {});
      }));
      const mark = (state) => {
        const b = el('button', {type: 'button', 'data-action': 'mark-' + state}, 'mark ' + state);
        b.addEventListener('click', () => act(b, async () => {
          const p = await api('POST', withQuery(path + '/mark', query), {state: state, dry_run: true});
          const lines = [label + ' becomes ' + state + '; its tries keep their times and exit codes.'];
          const others = p.changes.filter((c) => !(c.task_id === t.task_id && c.map_index === t.map_index));
          if (others.length) {
            lines.push('Then: ' + others.map((c) => instanceLabel(c.task_id, c.map_index) + ' becomes ' + c.to).join(', ') + '.');
          }
          const left = p.left_as_they_are.map((c) => instanceLabel(c.task_id, c.map_index) + ' is ' + c.to);
          if (left.length) lines.push(left.join(', ') + ' and stay' + (left.length === 1 ? 's' : '') + ' so: a mark never re-runs downstream tasks.');
          lines.push(p.run_state_after === p.run_state_before ? 'The run stays ' + p.run_state_after + '.' :
            'The run becomes ' + p.run_state_after + ' (now ' + p.run_state_before + ').');
          const choice = await askFirst('Mark ' + label + ' ' + state + '?', lines, [
            {label: 'Mark ' + state, value: 'mark'},
            left.length ? {label: 'Mark and clear downstream', value: 'mark-clear'} : null,
            {label: 'Cancel', value: null}]);
          if (!choice) return;
          await api('POST', withQuery(path + '/mark', query), {state: state});
          if (choice === 'mark-clear') {
            const seen = new Set();
            for (const c of p.left_as_they_are) {
              const q = instanceQuery(c.map_index);
              if (seen.has(c.task_id + q)) continue;
              seen.add(c.task_id + q);
              await api('POST', withQuery(base + '/tasks/' + enc(c.task_id) + '/clear', q), {downstream: false});
            }
          }
        }));
        return b;
      };
      return [clear, ' ', mark('success'), ' ', mark('failed')];
    }

    return {
      title: runId,
      mount(root) {
        append(root, header, actions,
          el('table', {class: 'list tasks'}, el('thead', null, el('tr', null,
            ['task', 'state', 'try', 'started', 'ended', 'duration', 'error', ''].map((h) => el('th', null, h)))),
          tbody),
          el('h2', null, 'Gantt'), gantt);
      },
      async refresh() {
        const run = await api('GET', base);
        const tz = run.timezone;
        this.title = run.run_id;
        replace(header,
          el('div', {class: 'crumbs'}, el('a', {href: dagHref(dagId)}, dagId), ' / run'),
          el('h1', null, run.run_id, ' ', stateBadge(run.state)),
          el('dl', {class: 'facts'},
            el('dt', null, 'type'), el('dd', null, run.type),
            el('dt', null, 'data interval'), el('dd', null, fmtTime(run.data_interval_start, tz) + ' → ' + fmtTime(run.data_interval_end, tz)),
            el('dt', null, 'started'), el('dd', null, fmtTime(run.started_at, tz) || '—'),
            el('dt', null, 'ended'), el('dd', null, fmtTime(run.ended_at, tz) || '—'),
            el('dt', null, 'duration'), el('dd', null, fmtDuration(durationBetween(run.started_at, run.ended_at)) || '—'),
            el('dt', null, 'conf'), el('dd', null, el('code', null, JSON.stringify(run.conf)))));
        const buttons = [];
        if (run.state === 'queued' || run.state === 'running') {
          const cancel = el('button', {type: 'button', id: 'cancel-run'}, 'Cancel run');
          cancel.addEventListener('click', () => act(cancel, async () => {
            const unfinished = run.tasks.filter((t) => !['success', 'failed', 'skipped', 'upstream_failed', 'canceled'].includes(t.state));
            const choice = await askFirst('Cancel run ' + run.run_id + '?', [
              unfinished.length ? 'Cancels ' + unfinished.length + ' unfinished task instance(s): ' +
                unfinished.map((t) => instanceLabel(t.task_id, t.map_index) + ' (' + t.state + ')').join(', ') + '; running ones are stopped.' :
                'No task is unfinished.',
              'Finished tasks keep their state; the run ends as canceled.'],
              [{label: 'Cancel the run', value: 'cancel'}, {label: 'Keep it running', value: null}]);
            if (choice) await api('POST', base + '/cancel');
          }));
          buttons.push(cancel);
        }
        const clearRun = (failedOnly) => {
          const b = el('button', {type: 'button'}, failedOnly ? 'Clear failed tasks' : 'Clear all tasks');
          b.addEventListener('click', () => act(b, async () => {
            const chosen = failedOnly ? run.tasks.filter((t) => ['failed', 'upstream_failed', 'canceled'].includes(t.state)) : run.tasks;
            const choice = await askFirst(failedOnly ? 'Clear the failed tasks?' : 'Clear every task of this run?', [
              chosen.length ? 'Clears ' + chosen.length + ' task instance(s): ' +
                chosen.map((t) => instanceLabel(t.task_id, t.map_index)).join(', ') + '.' : 'No task to clear.',
              'They run again with fresh tries; the run goes back to running.'],
              [{label: 'Clear', value: 'clear'}, {label: 'Cancel', value: null}]);
            if (choice) await api('POST', base + '/clear', {failed_only: failedOnly});
          }));
          return b;
        };
        const clearFailed = clearRun(true);
        const clearAll = clearRun(false);
        buttons.push(clearFailed, clearAll);
        replace(actions, buttons.map((b) => [b, ' ']));
        replace(tbody, run.tasks.map((t) => el('tr', {'data-task': t.task_id, 'data-map-index': t.map_index},
          el('td', null, el('a', {href: taskHref(dagId, run.run_id, t.task_id, null, t.map_index)},
            instanceLabel(t.task_id, t.map_index))),
          el('td', null, stateBadge(t.state), t.marked_at ? el('span', {class: 'muted small', title: 'set by hand by ' + t.marked_by}, ' (marked)') : null),
          el('td', null, t.try_number + ' / ' + t.max_tries),
          el('td', null, fmtTime(t.started_at, tz)),
          el('td', null, fmtTime(t.ended_at, tz)),
          el('td', null, fmtDuration(durationBetween(t.started_at, t.ended_at))),
          el('td', {class: 'error-cell', title: t.error}, t.error),
          el('td', {class: 'nowrap'}, taskActions(t)))));
        replace(gantt, ganttChart(run, run.tasks, tz));
      },
    };
  }

  // ---- task instance page: facts, tries, the log (paged), checks, outputs

  const LOG_SLICE = 256 * 1024;  // bytes per API call
  const LOG_PAGE = 4;            // calls per page: 1 MB shown at a time

  function logPage(dagId, runId, taskId, chosenTry, mapIndex) {
    const header = el('div');
    const tries = el('div', {class: 'tries'});
    const cut = el('div', {class: 'log-cut', id: 'log-truncated', hidden: true});
    const skippedNote = el('div', {class: 'muted small', id: 'log-skipped', hidden: true});
    const pre = el('pre', {id: 'log', class: 'log'});
    const footer = el('div', {class: 'muted small', id: 'log-footer'});
    const more = el('button', {type: 'button', id: 'log-more', hidden: true}, 'Load more');
    const tail = el('button', {type: 'button', id: 'log-tail', hidden: true}, 'Show the end');
    const details = el('div');
    const query = instanceQuery(mapIndex);
    const base = '/dags/' + enc(dagId) + '/runs/' + enc(runId) + '/tasks/' + enc(taskId);
    let shownTry = null;
    let start = 0;       // first byte shown
    let offset = 0;      // next byte to read
    let size = 0;        // bytes stored for the try
    let complete = false;
    let following = true;  // read new bytes as they come (stops at a page boundary)

    function logPath(tryNumber, from) {
      return withQuery(base + '/logs?try=' + tryNumber + '&offset=' + from + '&limit=' + LOG_SLICE, query);
    }

    function showFooter(tryNumber) {
      const left = size - offset;
      more.hidden = left <= 0;
      tail.hidden = left <= 0;
      const shown = size === 0 ? 'Empty log' :
        'Showing ' + fmtBytes(offset - start) + ' of ' + fmtBytes(size) +
        (start > 0 || left > 0 ? ' (bytes ' + start + '–' + offset + ')' : '');
      const state = left > 0 ? fmtBytes(left) + ' more below.' :
        complete ? 'Try ' + tryNumber + ' finished.' : 'Following the log…';
      footer.textContent = shown + '. ' + state;
    }

    async function pullLog(tryNumber, slices) {
      for (let i = 0; i < slices; i++) {
        const atBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 40;
        const slice = await api('GET', logPath(tryNumber, offset));
        if (slice.data) pre.append(document.createTextNode(slice.data));
        offset = slice.next_offset;
        size = Math.max(slice.size, offset);
        complete = slice.complete;
        cut.hidden = !slice.truncated;
        if (slice.data && atBottom && following) window.scrollTo(0, document.body.scrollHeight);
        if (!slice.data || offset >= size) break;
      }
      // A page boundary stops following; "Load more" or "Show the end" go on.
      following = offset >= size;
      showFooter(tryNumber);
    }

    function restart(tryNumber, from) {
      shownTry = tryNumber;
      start = offset = from;
      complete = false;
      following = true;
      pre.replaceChildren();
      skippedNote.hidden = from === 0;
      skippedNote.textContent = from > 0 ? 'The first ' + fmtBytes(from) + ' are not shown.' : '';
    }

    more.addEventListener('click', () => act(more, () => pullLog(shownTry, LOG_PAGE)));
    tail.addEventListener('click', () => act(tail, async () => {
      restart(shownTry, Math.max(0, size - LOG_SLICE));
      await pullLog(shownTry, LOG_PAGE);
      window.scrollTo(0, document.body.scrollHeight);
    }));

    return {
      title: instanceLabel(taskId, mapIndex),
      mount(root) {
        append(root, header, tries, cut, skippedNote, pre, footer, el('div', {class: 'actions'}, more, ' ', tail), details);
      },
      async refresh() {
        const [ti, run] = await Promise.all([api('GET', withQuery(base, query)),
          api('GET', '/dags/' + enc(dagId) + '/runs/' + enc(runId))]);
        const tz = run.timezone;
        const siblings = run.tasks.filter((t) => t.task_id === taskId && t.map_index >= 0);
        replace(header,
          el('div', {class: 'crumbs'}, el('a', {href: dagHref(dagId)}, dagId), ' / ',
            el('a', {href: runHref(dagId, run.run_id)}, run.run_id), ' / task'),
          el('h1', null, instanceLabel(taskId, ti.map_index), ' ', stateBadge(ti.state)),
          siblings.length ? el('div', {class: 'instances'}, 'instances: ', siblings.map((t) => [
            el('a', {href: taskHref(dagId, runId, taskId, null, t.map_index),
              class: 'state st-' + t.state + (t.map_index === ti.map_index ? ' current' : ''),
              title: instanceLabel(taskId, t.map_index) + ': ' + t.state}, String(t.map_index)), ' '])) : null,
          el('dl', {class: 'facts'},
            el('dt', null, 'tries'), el('dd', null, ti.try_number + ' / ' + ti.max_tries),
            el('dt', null, 'started'), el('dd', null, fmtTime(ti.started_at, tz) || '—'),
            el('dt', null, 'ended'), el('dd', null, fmtTime(ti.ended_at, tz) || '—'),
            el('dt', null, 'duration'), el('dd', null, fmtDuration(durationBetween(ti.started_at, ti.ended_at)) || '—'),
            el('dt', null, 'exit code'), el('dd', null, ti.exit_code === null ? '—' : String(ti.exit_code)),
            ti.marked_at ? [el('dt', null, 'marked'), el('dd', {class: 'marked', id: 'marked'},
              ti.state + ' by hand, by ' + (ti.marked_by || 'unknown') + ' at ' + fmtTime(ti.marked_at, tz) +
              (ti.exit_code !== null ? ' (the try itself exited with ' + ti.exit_code + ')' : ''))] : null,
            el('dt', null, 'worker'), el('dd', null, ti.worker_id || '—'),
            ti.error ? [el('dt', null, 'error'), el('dd', {class: 'error'}, ti.error)] : null));
        const latest = Math.max(1, ti.try_number);
        const tryNumber = chosenTry ? Math.min(chosenTry, latest) : latest;
        replace(tries, 'try: ', Array.from({length: latest}, (_, i) => i + 1).map((n) => [
          el('a', {href: taskHref(dagId, runId, taskId, n, mapIndex), class: n === tryNumber ? 'try current' : 'try'}, String(n)), ' ']));
        replace(cut, 'This try\u2019s log was cut at logs.max_bytes_per_try: what it wrote after that was not stored.');
        if (ti.try_number === 0 && !['skipped', 'upstream_failed', 'canceled', 'success', 'failed'].includes(ti.state)) {
          footer.textContent = 'Not started yet.';
        } else if (shownTry !== tryNumber) {
          restart(tryNumber, 0);
          await pullLog(tryNumber, LOG_PAGE);
        } else if (following && !(complete && offset >= size)) {
          await pullLog(tryNumber, LOG_PAGE);
        }
        const extra = [];
        if (ti.rendered && Array.isArray(ti.rendered.checks)) {
          const results = (await api('GET', withQuery(base + '/checks', query))).filter((c) => c.try_number === tryNumber);
          extra.push(el('h2', null, 'Checks'), results.length === 0 ?
            el('p', {class: 'muted'}, 'No check results for try ' + tryNumber + '.') :
            el('table', {class: 'list checks'}, el('thead', null, el('tr', null,
              ['check', 'kind', 'status', 'actual', 'passes at', 'severity'].map((h) => el('th', null, h)))),
            el('tbody', null, results.map((c) => el('tr', {'data-check': c.name},
              el('td', null, el('a', {href: checkHref(dagId, taskId, c.name)}, c.name)),
              el('td', null, c.kind),
              el('td', null, checkBadge(c.status)),
              el('td', null, c.actual),
              el('td', null, c.threshold),
              el('td', null, c.severity))))));
        }
        if (ti.outputs && Object.keys(ti.outputs).length) {
          extra.push(el('details', {open: true}, el('summary', null, 'outputs'), el('pre', null, JSON.stringify(ti.outputs, null, 2))));
        }
        if (ti.rendered) {
          extra.push(el('details', null, el('summary', null, 'rendered spec'), el('pre', null, JSON.stringify(ti.rendered, null, 2))));
        }
        replace(details, extra);
      },
    };
  }

  // ---- a data check over time

  // Values per interval as a small line chart, oldest left; points in their status colour.
  function checkChart(results, tz) {
    const points = results.filter((c) => c.value !== null).slice().reverse();
    if (points.length === 0) return el('p', {class: 'muted'}, 'No measured values yet.');
    const W = 640, H = 160, PAD = 36;
    const values = points.map((c) => c.value);
    let lo = Math.min(...values), hi = Math.max(...values);
    if (lo === hi) { lo -= 1; hi += 1; }
    const x = (i) => PAD + (points.length === 1 ? (W - 2 * PAD) / 2 : i * (W - 2 * PAD) / (points.length - 1));
    const y = (v) => H - PAD / 2 - (v - lo) / (hi - lo) * (H - PAD);
    const root = sv('svg', {class: 'check-chart', viewBox: '0 0 ' + W + ' ' + (H + 20), width: '100%', role: 'img',
      'aria-label': 'actual value per data interval'});
    root.append(sv('polyline', {class: 'check-line', fill: 'none',
      points: points.map((c, i) => x(i) + ',' + y(c.value)).join(' ')}));
    points.forEach((c, i) => {
      root.append(sv('circle', {cx: x(i), cy: y(c.value), r: 4, class: 'point st-' + checkColour(c.status)},
        sv('title', null, fmtTime(c.data_interval_start, tz) + ': ' + c.actual + ' (' + c.status + ')')));
    });
    root.append(sv('text', {x: 0, y: y(hi) + 4, class: 'gantt-axis'}, String(+hi.toFixed(2))));
    root.append(sv('text', {x: 0, y: y(lo) + 4, class: 'gantt-axis'}, String(+lo.toFixed(2))));
    root.append(sv('text', {x: PAD, y: H + 16, class: 'gantt-axis'}, fmtTime(points[0].data_interval_start, tz)));
    root.append(sv('text', {x: W - PAD, y: H + 16, class: 'gantt-axis', 'text-anchor': 'end'},
      fmtTime(points[points.length - 1].data_interval_start, tz)));
    return root;
  }

  function checkPage(dagId, taskId, name) {
    const header = el('div');
    const chart = el('div', {class: 'check-chart-box'});
    const tbody = el('tbody');
    return {
      title: name,
      mount(root) {
        append(root, header, chart, el('table', {class: 'list check-history'}, el('thead', null, el('tr', null,
          ['data interval', 'run', 'try', 'status', 'actual', 'passes at'].map((h) => el('th', null, h)))), tbody));
      },
      async refresh() {
        const results = await api('GET', '/dags/' + enc(dagId) + '/checks?task_id=' + enc(taskId) +
          '&name=' + enc(name) + '&limit=200');
        const tz = results.length ? results[0].timezone : undefined;
        const latest = results[0];
        replace(header,
          el('div', {class: 'crumbs'}, el('a', {href: dagHref(dagId)}, dagId), ' / ', taskId, ' / check'),
          el('h1', null, name, ' ', latest ? checkBadge(latest.status) : null),
          latest ? el('dl', {class: 'facts'},
            el('dt', null, 'kind'), el('dd', null, latest.kind),
            el('dt', null, 'severity'), el('dd', null, latest.severity),
            el('dt', null, 'passes at'), el('dd', null, latest.threshold),
            el('dt', null, 'time zone'), el('dd', null, tz)) : null);
        replace(chart, checkChart(results, tz));
        replace(tbody, results.length === 0 ? el('tr', null, el('td', {colspan: 6, class: 'muted'}, 'No results yet.')) :
          results.map((c) => el('tr', null,
            el('td', null, fmtTime(c.data_interval_start, tz)),
            el('td', null, el('a', {href: taskHref(dagId, c.run_id, taskId, c.try_number)}, c.run_id)),
            el('td', null, String(c.try_number)),
            el('td', null, checkBadge(c.status)),
            el('td', null, c.actual),
            el('td', null, c.threshold))));
      },
    };
  }

  // ---- alerts, SLA misses, workers

  function alertsPage() {
    const only = el('input', {type: 'checkbox', id: 'undelivered'});
    only.addEventListener('change', () => poller.kick());
    const tbody = el('tbody');
    return {
      title: 'Alerts',
      mount(root) {
        append(root, el('h1', null, 'Alerts'),
          el('p', {class: 'muted small'}, 'Times are in each DAG\u2019s time zone.'),
          el('label', null, only, ' undelivered only'),
          el('table', {class: 'list'}, el('thead', null, el('tr', null,
            ['created', 'event', 'DAG', 'run', 'task', 'attempts', 'delivered', 'last error'].map((h) => el('th', null, h)))), tbody));
      },
      async refresh() {
        const [alerts, zones] = await Promise.all([
          api('GET', '/alerts?limit=200' + (only.checked ? '&undelivered=1' : '')), dagZones()]);
        replace(tbody, alerts.length === 0 ? el('tr', null, el('td', {colspan: 8, class: 'muted'}, 'No alerts.')) :
          alerts.map((a) => el('tr', null,
            el('td', {class: 'created'}, fmtTime(a.created_at, zones[a.dag_id])),
            el('td', null, a.event),
            el('td', null, a.dag_id ? el('a', {href: dagHref(a.dag_id)}, a.dag_id) : ''),
            el('td', null, a.run_id && a.dag_id ? el('a', {href: runHref(a.dag_id, a.run_id)}, a.run_id) : a.run_id),
            el('td', null, a.task_id),
            el('td', null, String(a.attempts)),
            el('td', null, a.delivered_at ? fmtTime(a.delivered_at, zones[a.dag_id]) : el('span', {class: 'error'}, 'not yet')),
            el('td', {class: 'error-cell'}, a.last_error))));
      },
    };
  }

  // What each kind of SLA promised, for the kind column's tooltip.
  const SLA_KINDS = {
    max_duration: 'the run ends within max_duration of its start',
    deadline: 'the run succeeds by this time after its interval ends',
    sla: 'the task ends within its sla of its first start',
    freshness: 'a run succeeds again within freshness of the last success',
  };

  function slaPage() {
    const tbody = el('tbody');
    const count = el('span', {class: 'muted small'});
    return {
      title: 'SLA misses',
      mount(root) {
        append(root, el('h1', null, 'SLA misses ', count),
          el('p', {class: 'muted small'}, 'Each miss is recorded and alerted once. Times are in each DAG\u2019s time zone.'),
          el('table', {class: 'list sla-misses'}, el('thead', null, el('tr', null,
            ['detected', 'DAG', 'run', 'task', 'kind', 'deadline', 'late by', 'alerted'].map((h) => el('th', null, h)))), tbody));
      },
      async refresh() {
        const misses = await api('GET', '/sla-misses?limit=500');
        count.textContent = misses.length ? '(' + misses.length + ')' : '';
        replace(tbody, misses.length === 0 ? el('tr', null, el('td', {colspan: 8, class: 'muted'}, 'No SLA misses.')) :
          misses.map((m) => el('tr', {'data-dag': m.dag_id, 'data-run': m.run_id, 'data-kind': m.kind},
            el('td', {class: 'detected'}, fmtTime(m.detected_at, m.timezone)),
            el('td', null, el('a', {href: dagHref(m.dag_id)}, m.dag_id)),
            el('td', null, m.run_id ? el('a', {href: runHref(m.dag_id, m.run_id)}, m.run_id) : ''),
            el('td', null, m.task_id ? el('a', {href: taskHref(m.dag_id, m.run_id, m.task_id)}, m.task_id) : ''),
            el('td', {title: SLA_KINDS[m.kind] || ''}, el('span', {class: 'state st-failed'}, m.kind)),
            el('td', {class: 'deadline'}, fmtTime(m.deadline, m.timezone)),
            el('td', null, fmtDuration(new Date(m.detected_at) - new Date(m.deadline))),
            el('td', null, m.alerted ? 'yes' : el('span', {class: 'muted'}, 'no')))));
      },
    };
  }

  function workersPage() {
    const tbody = el('tbody');
    const schedulers = el('tbody');
    return {
      title: 'Workers',
      mount(root) {
        append(root, el('h1', null, 'Workers'), el('table', {class: 'list'}, el('thead', null, el('tr', null,
          ['worker', 'host', 'pid', 'slots', 'queues', 'state', 'started', 'last heartbeat'].map((h) => el('th', null, h)))), tbody),
          el('h2', null, 'Schedulers'), el('table', {class: 'list schedulers'}, el('thead', null, el('tr', null,
            ['scheduler', 'host', 'role', 'loop lag', 'last heartbeat'].map((h) => el('th', null, h)))), schedulers));
      },
      async refresh() {
        const [workers, scheds] = await Promise.all([api('GET', '/workers'), api('GET', '/schedulers')]);
        replace(schedulers, scheds.length === 0 ? el('tr', null, el('td', {colspan: 5, class: 'muted'}, 'No scheduler has sent a heartbeat.')) :
          scheds.map((s) => el('tr', {class: s.alive === false ? 'inactive' : '', 'data-scheduler': s.id},
            el('td', null, s.id), el('td', null, s.host),
            el('td', {class: 'role'}, s.role === 'gone' ? 'gone (silent ' + fmtDuration(s.heartbeat_age_ms) + ')' : (s.role || (s.leader ? 'leader' : 'standby'))),
            el('td', null, fmtDuration(s.loop_lag_ms)),
            el('td', null, fmtTime(s.last_heartbeat)))));
        replace(tbody, workers.length === 0 ? el('tr', null, el('td', {colspan: 8, class: 'muted'}, 'No workers registered.')) :
          workers.map((w) => el('tr', {class: w.alive ? '' : 'inactive'},
            el('td', null, w.id), el('td', null, w.host), el('td', null, String(w.pid)),
            el('td', null, String(w.slots)), el('td', null, w.queues.join(', ')),
            el('td', null, w.alive ? w.state : w.state + ' (silent)'),
            el('td', null, fmtTime(w.started_at)), el('td', null, fmtTime(w.last_heartbeat)))));
      },
    };
  }

  // ---- routing

  function parseRoute(hash) {
    const parts = hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map((p) => {
      try { return decodeURIComponent(p); } catch (e) { return p; }
    });
    for (const match of Sluice.routes) {
      const page = match(parts);
      if (page) return page;
    }
    if (parts[0] === 'dag' && parts.length >= 2) {
      if (parts[2] === 'run' && parts.length >= 4) {
        if (parts[4] === 'task' && parts.length >= 6) {
          let tryNumber = null, mapIndex = null;
          for (let i = 6; i + 1 < parts.length; i += 2) {
            const n = parseInt(parts[i + 1], 10);
            if (parts[i] === 'try') tryNumber = n > 0 ? n : null;
            if (parts[i] === 'map') mapIndex = n >= 0 ? n : null;
          }
          return logPage(parts[1], parts[3], parts[5], tryNumber, mapIndex);
        }
        return runPage(parts[1], parts[3]);
      }
      if (parts[2] === 'check' && parts.length >= 5) return checkPage(parts[1], parts[3], parts[4]);
      return dagPage(parts[1]);
    }
    if (parts[0] === 'alerts') return alertsPage();
    if (parts[0] === 'sla') return slaPage();
    if (parts[0] === 'workers') return workersPage();
    if (parts[0] === 'backfills') return backfillsPage();
    if (parts.length === 0 || parts[0] === 'dags') return dagsPage();
    return unknownPage(hash);
  }

  function route() {
    const page = parseRoute(window.location.hash);
    main.replaceChildren();
    showError(null, 'action');
    showError(null);
    page.mount(main);
    document.title = page.title + ' — Sluice';
    poller.start(page);
  }

  // What the page modules (dag_list.js, dag_page.js, grid.js, gantt.js,
  // calendar.js, backfill.js, theme.js) build on; they register pages in
  // Sluice.pages and routes in Sluice.routes before the first route().
  window.Sluice = {
    POLL_MS, GRID_RUNS, el, sv, append, replace, enc, dagHref, runHref, taskHref, checkHref,
    stateBadge, fmtTime, fmtDuration, durationBetween, api, act, showError, poller, pauseToggle,
    buildBackfillForm, backfillProgress, nextRunView, instanceQuery, withQuery, instanceLabel,
    dagZones, askFirst, fmtBytes, pages: {}, routes: [],
  };
  window.addEventListener('hashchange', route);
  document.addEventListener('DOMContentLoaded', route);
})();
