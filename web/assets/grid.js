// Sluice UI: the DAG page's grid. Runs are columns (oldest left) with a bar
// whose height shows the run's duration, a marker of the run type and date
// labels in the DAG's time zone; tasks are rows. A mapped task's cell shows
// the worst state of its instances and a count per state. Clicking a cell
// opens the task-instance panel (panel.js) beside the grid.
'use strict';

(function () {
  const S = window.Sluice;
  const {el, replace, fmtTime, fmtDuration, durationBetween, runHref, taskHref} = S;

  // Worst first: the order a mapped task's counts are told in.
  const SEVERITY = ['failed', 'upstream_failed', 'canceled', 'up_for_retry', 'up_for_reschedule',
    'running', 'queued', 'scheduled', 'none', 'skipped', 'success'];
  const LEGEND = ['success', 'failed', 'running', 'queued', 'scheduled', 'up_for_retry',
    'upstream_failed', 'skipped', 'canceled', 'none'];
  const RUN_TYPES = {scheduled: 'S', manual: 'M', backfill: 'B'};

  // "1 failed, 3 success": a mapped cell's counts, worst state first.
  function countsText(counts) {
    return Object.keys(counts || {})
      .sort((a, b) => SEVERITY.indexOf(a) - SEVERITY.indexOf(b))
      .map((state) => counts[state] + ' ' + state).join(', ');
  }

  // One Intl formatter per set of options and time zone (UTC for a zone
  // this browser does not know), made once: they are slow to make.
  const zoneFormats = new Map();
  function zoneFormat(name, options, tz) {
    const key = name + '\u0000' + (tz || 'UTC');
    if (!zoneFormats.has(key)) {
      let f;
      try {
        f = new Intl.DateTimeFormat('en-GB', Object.assign({timeZone: tz || 'UTC'}, options));
      } catch (e) {
        f = new Intl.DateTimeFormat('en-GB', Object.assign({}, options, {timeZone: 'UTC'}));
      }
      zoneFormats.set(key, f);
    }
    return zoneFormats.get(key);
  }

  function shortDate(iso, tz) {
    return zoneFormat('day', {month: 'short', day: 'numeric'}, tz).format(new Date(iso));
  }

  function runDuration(r) {
    return r.duration_ms !== null && r.duration_ms !== undefined ? r.duration_ms
      : durationBetween(r.started_at, r.ended_at);
  }

  // Keeps the columns of the last answers so that an answer to `since`
  // (only what changed) can be put together with them.
  class GridData {
    constructor() { this.reset(); }
    reset() {
      this.marker = '';
      this.columns = new Map();
      this.tasks = [];
      this.runs = [];
      this.hasMore = false;
      this.dag = null;
      this.graph = null;
    }
    // Takes one answer of the grid endpoint; true when something changed.
    take(answer) {
      if (answer.unchanged) return false;
      if (answer.tasks) this.tasks = answer.tasks;
      if (answer.graph) this.graph = answer.graph;
      if (answer.dag) this.dag = answer.dag;
      const columns = new Map();
      this.runs = answer.runs.map((r) => {
        const column = r.unchanged ? this.columns.get(r.run_id) : r;
        columns.set(r.run_id, column);
        return column;
      });
      if (this.runs.some((r) => !r)) {  // a stub of a column we never had: ask again in full
        this.reset();
        return false;
      }
      this.columns = columns;
      this.hasMore = answer.has_more;
      this.marker = answer.marker;
      return true;
    }
  }

  // Draws the grid of `data` for `dag` (its time zone) into a new element;
  // `open(run, task)` is called when a cell is clicked.
  function drawGrid(dagId, data, tz, open) {
    const runs = data.runs.slice().reverse();  // oldest left, as Airflow's grid
    if (runs.length === 0) return el('p', {class: 'muted'}, 'No runs yet.');
    const longest = Math.max(1, ...runs.map((r) => runDuration(r) || 0));
    const head = el('tr', null, el('th', {class: 'task-col'}, ''),
      runs.map((r) => {
        const ms = runDuration(r);
        const bar = el('a', {
          class: 'bar st-' + r.state, href: runHref(dagId, r.run_id), 'data-run': r.run_id,
          'data-duration': ms === null ? '' : String(ms),
          title: r.run_id + '\n' + r.state + ' · ' + r.type + '\ninterval ' +
            fmtTime(r.data_interval_start, tz) + '\nduration ' + (ms === null ? '—' : fmtDuration(ms)),
        });
        // Bars grow from the bottom: 4 px at least, 48 for the longest run.
        bar.style.height = (4 + Math.round(44 * (ms || 0) / longest)) + 'px';
        return el('th', {class: 'run-col'}, el('div', {class: 'bar-box'}, bar));
      }));
    const types = el('tr', {class: 'types'}, el('th', {class: 'task-col muted small'}, 'type'),
      runs.map((r) => el('th', null, el('span', {class: 'run-type type-' + r.type, 'data-run': r.run_id,
                                                 title: r.type + ' run'}, RUN_TYPES[r.type] || '?'))));
    // A date label under the first run of each day (in the DAG's zone).
    let lastDay = null;
    const dates = el('tr', {class: 'dates'}, el('th', {class: 'task-col muted small'}, 'date'),
      runs.map((r) => {
        const day = shortDate(r.data_interval_start, tz);
        const label = day === lastDay ? '' : day;
        lastDay = day;
        return el('th', null, label ? el('span', {class: 'date-label'}, label) : '');
      }));
    const rows = data.tasks.map((task) => el('tr', null,
      el('td', {class: 'task-col', title: task}, task),
      runs.map((r) => {
        const ti = r.tasks[task];
        const state = ti ? ti.state : 'none';
        const mapped = ti && ti.mapped;
        let title = task + ' — ' + state;
        if (mapped) title += '\n' + ti.mapped + ' instances: ' + countsText(ti.counts);
        if (ti && ti.try_number > 1) title += '\ntry ' + ti.try_number + ' of ' + ti.max_tries;
        if (ti && ti.started_at) title += '\n' + fmtDuration(durationBetween(ti.started_at, ti.ended_at));
        title += '\n' + r.run_id;
        const cell = el('a', {
          class: 'cell st-' + state + (mapped ? ' mapped' : '') + (ti && ti.try_number > 1 ? ' retried' : ''),
          href: taskHref(dagId, r.run_id, task),
          'data-run': r.run_id, 'data-task': task, 'data-state': state,
          'data-counts': mapped ? countsText(ti.counts) : null, title: title,
        }, mapped ? String(ti.mapped) : '');
        cell.addEventListener('click', (event) => {
          if (event.ctrlKey || event.metaKey || event.shiftKey || event.button !== 0) return;
          event.preventDefault();
          open(r, task);
        });
        return el('td', null, cell);
      })));
    return el('table', {class: 'grid'}, el('thead', null, head, types, dates), el('tbody', null, rows));
  }

  function legend() {
    return el('div', {class: 'legend'},
      LEGEND.map((s) => el('span', {class: 'legend-item'}, el('span', {class: 'sq st-' + s}), s)),
      el('span', {class: 'legend-item'}, el('span', {class: 'run-type'}, 'S'), 'scheduled'),
      el('span', {class: 'legend-item'}, el('span', {class: 'run-type type-manual'}, 'M'), 'manual'),
      el('span', {class: 'legend-item'}, el('span', {class: 'run-type type-backfill'}, 'B'), 'backfill'),
      el('span', {class: 'legend-item muted'}, 'bar height: run duration; a number: mapped instances'));
  }

  S.grid = {GridData, drawGrid, legend, countsText, SEVERITY, zoneFormat};
})();
