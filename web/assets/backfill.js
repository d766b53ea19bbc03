// Sluice UI: one backfill's page. A progress bar, an estimate of the time
// left (from the durations of its finished runs and how many run at once),
// the state of each interval and a cancel button. Route: #/backfills/ID.
'use strict';

(function () {
  const S = window.Sluice;
  const {el, replace, append, api, act, enc, fmtTime, fmtDuration, stateBadge, dagHref, runHref} = S;

  function median(values) {
    if (values.length === 0) return null;
    const sorted = values.slice().sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)];
  }

  function backfillPage(id) {
    const head = el('div');
    const bar = el('div', {class: 'progress', role: 'progressbar', 'aria-valuemin': '0'});
    const facts = el('div');
    const tbody = el('tbody');
    let dag = null;  // the DAG's time zone and max_active_runs, asked once
    return {
      title: 'Backfill ' + id,
      mount(root) {
        append(root, head, bar, facts, el('h2', null, 'Intervals'), el('div', {class: 'table-wrap'},
          el('table', {class: 'list intervals'}, el('thead', null, el('tr', null,
            ['data interval', 'action', 'reason', 'run', 'state'].map((h) => el('th', null, h)))), tbody)));
      },
      async refresh() {
        const b = await api('GET', '/backfills/' + enc(id));
        if (!dag) dag = await api('GET', '/dags/' + enc(b.dag_id));
        const tz = dag.timezone;
        const runs = (await api('GET', '/dags/' + enc(b.dag_id) + '/runs?type=backfill&limit=1000'))
          .filter((r) => r.backfill_id === b.id);
        const p = b.progress;
        const cancel = el('button', {type: 'button', id: 'backfill-cancel'}, 'Cancel backfill');
        cancel.addEventListener('click', () => {
          if (confirm('Cancel backfill ' + b.id + ' of ' + b.dag_id + '? Runs not started yet are not created; ' +
                      'running ones go on.')) {
            act(cancel, () => api('POST', '/backfills/' + b.id + '/cancel'));
          }
        });
        replace(head,
          el('div', {class: 'crumbs'}, el('a', {href: '#/backfills'}, 'Backfills'), ' / ', String(b.id)),
          el('h1', null, 'Backfill ' + b.id + ' of ', el('a', {href: dagHref(b.dag_id)}, b.dag_id), ' ',
            stateBadge(b.state), b.state === 'running' ? cancel : null));
        // The bar: done, failed, skipped, running, pending, as shares of all.
        const total = Math.max(1, p.total);
        const parts = [['success', p.done], ['failed', p.failed], ['skipped', p.skipped],
          ['running', p.running], ['none', p.pending]];
        bar.setAttribute('aria-valuemax', String(p.total));
        bar.setAttribute('aria-valuenow', String(p.done + p.failed + p.skipped));
        replace(bar, parts.filter(([, n]) => n > 0).map(([state, n]) => {
          const seg = el('span', {class: 'seg st-' + state, title: n + ' ' + (state === 'none' ? 'pending' : state)});
          seg.style.width = (100 * n / total) + '%';
          return seg;
        }));
        const ended = runs.filter((r) => r.duration_ms !== null && ['success', 'failed'].includes(r.state));
        const typical = median(ended.map((r) => r.duration_ms));
        const parallel = Math.max(1, b.max_active_runs || dag.max_active_runs || 1);
        const left = p.pending + p.running;
        let estimate = '—';
        if (b.state !== 'running') {
          estimate = 'ended' + (b.finished_at ? ' ' + fmtTime(b.finished_at, tz) : '');
        } else if (left === 0) {
          estimate = 'finishing';
        } else if (typical !== null) {
          estimate = 'about ' + fmtDuration(Math.ceil(left / parallel) * typical) + ' left (' + left +
            ' runs, a run takes ' + fmtDuration(typical) + ', ' + parallel + ' at a time)';
        } else {
          estimate = 'after the first run ends';
        }
        replace(facts, el('dl', {class: 'facts'},
          el('dt', null, 'progress'), el('dd', {id: 'backfill-progress'}, S.backfillProgress(b)),
          el('dt', null, 'estimate'), el('dd', {id: 'backfill-estimate'}, estimate),
          el('dt', null, 'range'), el('dd', null, fmtTime(b.from, tz) + ' → ' + fmtTime(b.to, tz)),
          el('dt', null, 'reprocess'), el('dd', null, b.reprocess),
          el('dt', null, 'created'), el('dd', null, fmtTime(b.created_at, tz))));
        const runState = new Map(runs.map((r) => [r.run_id, r]));
        replace(tbody, b.intervals.length === 0 ? el('tr', null, el('td', {colspan: 5, class: 'muted'}, 'No intervals.')) :
          b.intervals.map((i) => {
            const run = i.run_id ? runState.get(i.run_id) : null;
            const state = i.run_state || (i.action === 'skip' ? 'skipped' : 'none');
            return el('tr', {'data-state': state},
              el('td', null, fmtTime(i.data_interval_start, tz)),
              el('td', null, i.action), el('td', null, i.reason),
              el('td', null, i.run_id ? el('a', {href: runHref(b.dag_id, i.run_id)}, i.run_id) : ''),
              el('td', null, stateBadge(state), run && run.duration_ms !== null ? ' ' + fmtDuration(run.duration_ms) : ''));
          }));
      },
    };
  }

  S.routes.push((parts) => (parts[0] === 'backfills' && parts[1] ? backfillPage(parts[1]) : null));
})();
