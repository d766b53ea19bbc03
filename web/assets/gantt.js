// Sluice UI: the run page's Gantt chart. Per task instance a queued segment
// (queued → started) and a running segment (started → ended, or now) of its
// latest try; a retried instance shows its earlier tries as one hatched
// segment from the first try's start and a "try N" mark. A time axis with
// ticks in the DAG's time zone.
'use strict';

(function () {
  const S = window.Sluice;
  const {el, sv, api, enc, fmtTime, fmtDuration} = S;

  // The first try's start of retried instances (only the full task view has
  // it): asked once per instance and try, kept for the next redraws.
  const firstStarts = new Map();
  function firstStart(run, t) {
    const key = [run.dag_id, run.run_id, t.task_id, t.map_index, t.try_number].join('\u0000');
    if (!firstStarts.has(key)) {
      firstStarts.set(key, null);
      const query = t.map_index >= 0 ? '?map_index=' + t.map_index : '';
      api('GET', '/dags/' + enc(run.dag_id) + '/runs/' + enc(run.run_id) + '/tasks/' + enc(t.task_id) + query)
        .then((full) => firstStarts.set(key, full.first_started_at || null))
        .catch(() => {});
    }
    return firstStarts.get(key);
  }

  const STEPS = [0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400]
    .map((s) => s * 1000);

  function clock(ms, tz) {
    return S.grid.zoneFormat('clock', {hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false}, tz)
      .format(new Date(ms));
  }

  function ganttChart(run, tasks, tz) {
    const t = (iso) => (iso ? Date.parse(iso) : null);
    const rows = tasks.map((ti) => {
      const retried = ti.try_number > 1;
      return {ti, queued: t(ti.queued_at), started: t(ti.started_at), ended: t(ti.ended_at),
              first: retried ? t(firstStart(run, ti)) : null};
    });
    const timed = rows.filter((r) => r.started || r.queued);
    if (timed.length === 0) return el('p', {class: 'muted'}, 'No task has started yet.');
    const now = Date.now();
    const starts = timed.map((r) => Math.min(...[r.first, r.queued, r.started].filter((x) => x !== null)));
    const t0 = Math.min(...starts);
    const t1 = Math.max(t0 + 1000, ...timed.map((r) => r.ended || now));
    const LABEL = 180, WIDTH = 620, ROW = 22, AXIS = 28;
    const x = (ms) => LABEL + (ms - t0) / (t1 - t0) * WIDTH;
    const root = sv('svg', {class: 'gantt', width: LABEL + WIDTH + 50, height: rows.length * ROW + AXIS + 4});
    // Ticks: the smallest step giving at most 8 of them.
    const step = STEPS.find((s) => (t1 - t0) / s <= 8) || STEPS[STEPS.length - 1];
    for (let tick = Math.ceil(t0 / step) * step; tick <= t1; tick += step) {
      root.append(sv('line', {x1: x(tick), x2: x(tick), y1: 0, y2: rows.length * ROW + 4, class: 'gantt-tick'}));
      root.append(sv('text', {x: x(tick), y: rows.length * ROW + 18, class: 'gantt-axis', 'text-anchor': 'middle'},
        clock(tick, tz) + (step < 1000 ? '.' + String(tick % 1000).padStart(3, '0') : '')));
    }
    rows.forEach((r, i) => {
      const y = i * ROW;
      const ti = r.ti;
      const name = ti.task_id + (ti.map_index >= 0 ? ' [' + ti.map_index + ']' : '');
      const g = sv('g', {class: 'gantt-row', 'data-task': ti.task_id, 'data-map-index': String(ti.map_index),
                         'data-try': String(ti.try_number)});
      g.append(sv('text', {x: 0, y: y + 15, class: 'gantt-label'}, name.length > 24 ? name.slice(0, 23) + '…' : name));
      if (r.first !== null && r.first < (r.queued || r.started || now)) {
        const end = r.queued || r.started || now;
        g.append(sv('rect', {x: x(r.first), y: y + 6, width: Math.max(2, x(end) - x(r.first)), height: ROW - 12,
                             class: 'earlier-tries'},
          sv('title', null, name + ': tries 1–' + (ti.try_number - 1) + ' and the waits between them, ' +
            fmtDuration(end - r.first))));
      }
      if (r.queued !== null && (r.started === null || r.queued < r.started)) {
        const end = r.started || (ti.state === 'queued' ? now : r.queued);
        g.append(sv('rect', {x: x(r.queued), y: y + 5, width: Math.max(2, x(end) - x(r.queued)), height: ROW - 10,
                             rx: 2, class: 'queued-bar'},
          sv('title', null, name + ': queued ' + fmtDuration(end - r.queued) + '\n' + fmtTime(ti.queued_at, tz))));
      }
      if (r.started !== null) {
        const end = r.ended || now;
        g.append(sv('rect', {x: x(r.started), y: y + 3, width: Math.max(2, x(end) - x(r.started)), height: ROW - 6,
                             rx: 3, class: 'bar st-' + ti.state},
          sv('title', null, name + ': ' + ti.state + ', try ' + ti.try_number + ' of ' + ti.max_tries + ', ' +
            fmtDuration(end - r.started) + '\n' + fmtTime(ti.started_at, tz) + ' → ' +
            (ti.ended_at ? fmtTime(ti.ended_at, tz) : 'now'))));
        if (ti.try_number > 1) {
          g.append(sv('text', {x: x(end) + 4, y: y + 15, class: 'gantt-try'}, 'try ' + ti.try_number));
        }
      }
      root.append(g);
    });
    root.append(sv('text', {x: 0, y: rows.length * ROW + 18, class: 'gantt-axis'}, tz || 'UTC'));
    const box = el('div', null, root, el('div', {class: 'legend'},
      el('span', {class: 'legend-item'}, el('span', {class: 'sq queued-sq'}), 'queued'),
      el('span', {class: 'legend-item'}, el('span', {class: 'sq st-running'}), 'running (coloured by state)'),
      el('span', {class: 'legend-item'}, el('span', {class: 'sq earlier-sq'}), 'earlier tries'),
      el('span', {class: 'legend-item muted'}, 'whole run: ' + fmtDuration(t1 - t0))));
    return box;
  }

  S.ganttChart = ganttChart;
})();
