// Sluice UI: the task-instance panel of the DAG page. Opened from a grid
// cell, it shows the instance's tries, times (queued, started, ended, time
// in the queue), worker, outputs, rendered spec (masked by the server) and
// the start of its log, without leaving the grid. For a mapped task, a row
// of buttons picks the instance (?map_index=N).
'use strict';

(function () {
  const S = window.Sluice;
  const {el, replace, api, enc, fmtTime, fmtDuration, durationBetween, stateBadge, taskHref, runHref} = S;
  const LOG_BYTES = 64 * 1024;

  function taskPanel(dagId, tzOf) {
    const box = el('aside', {class: 'ti-panel', id: 'ti-panel', hidden: true, 'aria-label': 'task instance'});
    let shown = null;  // {runId, task, mapIndex, tryNumber}
    let loaded = '';   // what the panel shows, to redraw only on change
    let running = false;  // its log may grow while the grid stays the same

    function close() {
      shown = null;
      loaded = '';
      box.hidden = true;
      box.replaceChildren();
    }

    async function draw() {
      if (!shown) return;
      const want = shown;
      const base = '/dags/' + enc(dagId) + '/runs/' + enc(want.runId) + '/tasks/' + enc(want.task);
      const instances = (await api('GET', '/dags/' + enc(dagId) + '/runs/' + enc(want.runId) + '/tasks'))
        .filter((t) => t.task_id === want.task);
      const mapped = instances.length > 1 || (instances[0] && instances[0].map_index >= 0);
      if (mapped && want.mapIndex === null) {
        // The worst instance first: that is what the cell's colour tells of.
        const worst = instances.slice().sort((a, b) =>
          S.grid.SEVERITY.indexOf(a.state) - S.grid.SEVERITY.indexOf(b.state))[0];
        want.mapIndex = worst.map_index;
      }
      const query = mapped ? '?map_index=' + want.mapIndex : '';
      const ti = await api('GET', base + query);
      const latest = Math.max(1, ti.try_number);
      const tryNumber = want.tryNumber ? Math.min(want.tryNumber, latest) : latest;
      const started = ti.try_number > 0 || ['success', 'failed', 'running'].includes(ti.state);
      const log = started ? await api('GET', base + '/logs?try=' + tryNumber + '&limit=' + LOG_BYTES +
        (mapped ? '&map_index=' + want.mapIndex : '')) : null;
      if (shown !== want) return;  // another cell was clicked meanwhile
      running = ti.state === 'running' || (log !== null && !log.complete);
      const key = JSON.stringify([ti, log && [log.next_offset, log.complete], instances.map((i) => i.state)]);
      if (key === loaded) return;
      loaded = key;
      const tz = tzOf();
      const closeButton = el('button', {type: 'button', class: 'close', id: 'ti-panel-close', title: 'Close'}, '×');
      closeButton.addEventListener('click', close);
      const queuedFor = ti.queued_at && ti.started_at ? fmtDuration(durationBetween(ti.queued_at, ti.started_at)) : '—';
      replace(box,
        el('div', {class: 'panel-head'},
          el('h2', null, want.task, mapped ? ' [' + want.mapIndex + ']' : '', ' ', stateBadge(ti.state)), closeButton),
        el('div', {class: 'crumbs'}, 'run ', el('a', {href: runHref(dagId, want.runId)}, want.runId), ' · ',
          el('a', {href: taskHref(dagId, want.runId, want.task, null, mapped ? want.mapIndex : null)}, 'full log page')),
        mapped ? el('div', {class: 'instances'}, 'instance: ', instances.map((i) => {
          const b = el('button', {type: 'button', class: 'instance st-' + i.state +
            (i.map_index === want.mapIndex ? ' current' : ''), 'data-map-index': String(i.map_index),
            title: 'instance ' + i.map_index + ': ' + i.state}, String(i.map_index));
          b.addEventListener('click', () => { shown = Object.assign({}, want, {mapIndex: i.map_index, tryNumber: null}); draw(); });
          return b;
        })) : null,
        el('div', {class: 'tries'}, 'try: ', Array.from({length: latest}, (_, i) => i + 1).map((n) => {
          const b = el('button', {type: 'button', class: n === tryNumber ? 'try current' : 'try'}, String(n));
          b.addEventListener('click', () => { shown = Object.assign({}, want, {tryNumber: n}); draw(); });
          return b;
        }), el('span', {class: 'muted small'}, ' of at most ' + ti.max_tries)),
        el('dl', {class: 'facts'},
          el('dt', null, 'queued'), el('dd', null, fmtTime(ti.queued_at, tz) || '—'),
          el('dt', null, 'started'), el('dd', null, fmtTime(ti.started_at, tz) || '—'),
          el('dt', null, 'ended'), el('dd', null, fmtTime(ti.ended_at, tz) || '—'),
          el('dt', null, 'in queue'), el('dd', {class: 'queued-for'}, queuedFor),
          el('dt', null, 'duration'), el('dd', null, ti.started_at ? fmtDuration(durationBetween(ti.started_at, ti.ended_at)) : '—'),
          el('dt', null, 'worker'), el('dd', {class: 'worker'}, ti.worker_id || '—'),
          el('dt', null, 'pool / queue'), el('dd', null, ti.pool + ' / ' + ti.queue),
          ti.exit_code !== null ? [el('dt', null, 'exit code'), el('dd', null, String(ti.exit_code))] : null,
          ti.error ? [el('dt', null, 'error'), el('dd', {class: 'error'}, ti.error)] : null),
        ti.outputs && Object.keys(ti.outputs).length ?
          el('details', {open: true, class: 'outputs'}, el('summary', null, 'outputs'),
            el('pre', null, JSON.stringify(ti.outputs, null, 2))) : null,
        ti.rendered ? el('details', {class: 'rendered'}, el('summary', null, 'rendered spec'),
          el('pre', null, JSON.stringify(ti.rendered, null, 2))) : null,
        el('h3', null, 'log, try ' + tryNumber),
        el('pre', {class: 'log', id: 'panel-log'}, log ? log.data : 'Not started yet.'),
        log && (!log.complete || log.data.length >= LOG_BYTES) ?
          el('p', {class: 'muted small'}, log.complete ? 'More in the ' : 'Still running: follow it on the ',
            el('a', {href: taskHref(dagId, want.runId, want.task, tryNumber, mapped ? want.mapIndex : null)},
              'full log page'), '.') : null);
      box.hidden = false;
    }

    return {
      element: box,
      open(runId, task) {
        shown = {runId, task, mapIndex: null, tryNumber: null};
        loaded = '';
        return draw();
      },
      refresh() { return draw(); },
      get isOpen() { return shown !== null; },
      get isRunning() { return shown !== null && running; },
    };
  }

  S.taskPanel = taskPanel;
})();
