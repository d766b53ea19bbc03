// Sluice UI: the DAG list, with search, filters (tag, last run state,
// paused) and sortable columns. Built on app.js's helpers (window.Sluice).
'use strict';

(function () {
  const S = window.Sluice;
  const {el, replace, append, api, fmtTime, fmtDuration, stateBadge, dagHref, runHref, pauseToggle} = S;

  // The sortable columns: a key per column, the value it sorts by.
  const SORTS = {
    dag: (d) => d.dag.dag_id,
    next: (d) => (d.dag.next_run ? d.dag.next_run.data_interval_start : '\uffff'),
    last: (d) => (d.last ? d.last.started_at || d.last.data_interval_start : ''),
    duration: (d) => (d.last && d.last.duration_ms !== null ? d.last.duration_ms : -1),
    state: (d) => d.dag.last_run_state || '',
  };

  // The list's filters, kept across visits of the page in one tab.
  const view = {q: '', tag: '', state: '', paused: '', sort: 'dag', desc: false};

  function matches(d) {
    const dag = d.dag;
    if (view.q) {
      const q = view.q.toLowerCase();
      if (!dag.dag_id.toLowerCase().includes(q) && !(dag.description || '').toLowerCase().includes(q)) return false;
    }
    if (view.tag && !(dag.tags || []).includes(view.tag)) return false;
    if (view.state && (dag.last_run_state || 'none') !== view.state) return false;
    if (view.paused === 'paused' && !dag.paused) return false;
    if (view.paused === 'active' && dag.paused) return false;
    return true;
  }

  function dagsPage() {
    const errorsBox = el('section', {class: 'import-errors', hidden: true});
    const tbody = el('tbody');
    const count = el('span', {class: 'muted small', id: 'dag-count'});
    const search = el('input', {type: 'search', id: 'dag-search', placeholder: 'search id or description',
                                'aria-label': 'search DAGs', value: view.q});
    const tag = el('select', {id: 'dag-tag', 'aria-label': 'tag'});
    const state = el('select', {id: 'dag-state', 'aria-label': 'state of the last run'},
      ['', 'success', 'failed', 'running', 'queued', 'canceled', 'none'].map((s) =>
        el('option', {value: s}, s ? 'last run: ' + s : 'any last run')));
    const paused = el('select', {id: 'dag-paused', 'aria-label': 'paused'},
      el('option', {value: ''}, 'active and paused'), el('option', {value: 'active'}, 'active only'),
      el('option', {value: 'paused'}, 'paused only'));
    state.value = view.state;
    paused.value = view.paused;
    let data = [];

    const headers = [['', null], ['DAG', 'dag'], ['Schedule', null], ['Next run', 'next'],
      ['Recent runs', null], ['Last run', 'last'], ['Duration', 'duration'], ['State', 'state']];
    const headRow = el('tr');
    function drawHead() {
      replace(headRow, headers.map(([label, key]) => {
        if (!key) return el('th', null, label);
        const sorted = view.sort === key;
        const button = el('button', {type: 'button', class: 'sort' + (sorted ? ' sorted' : ''), 'data-sort': key},
          label, sorted ? (view.desc ? ' ↓' : ' ↑') : '');
        button.addEventListener('click', () => {
          view.desc = sorted ? !view.desc : false;
          view.sort = key;
          drawHead();
          draw();
        });
        return el('th', {'aria-sort': sorted ? (view.desc ? 'descending' : 'ascending') : null}, button);
      }));
    }

    function draw() {
      const shown = data.filter(matches);
      const key = SORTS[view.sort];
      shown.sort((a, b) => {
        const x = key(a), y = key(b);
        const c = x < y ? -1 : x > y ? 1 : a.dag.dag_id < b.dag.dag_id ? -1 : 1;
        return view.desc ? -c : c;
      });
      count.textContent = shown.length === data.length ? '(' + data.length + ')' : '(' + shown.length + ' of ' + data.length + ')';
      const rows = [];
      for (const {dag, last} of shown) {
        const squares = el('span', {class: 'squares'},
          dag.recent_runs.slice().reverse().map((r) => el('a', {
            class: 'sq st-' + r.state, href: runHref(dag.dag_id, r.run_id),
            title: r.run_id + ' — ' + r.state,
          })));
        const next = S.nextRun(dag);
        rows.push(el('tr', {class: dag.active ? '' : 'inactive', 'data-dag': dag.dag_id},
          el('td', null, pauseToggle(dag)),
          el('td', {class: 'dag-cell'}, el('a', {class: 'dag-link', href: dagHref(dag.dag_id)}, dag.dag_id),
            dag.active ? null : el('span', {class: 'muted'}, ' (file removed)'),
            dag.description ? el('div', {class: 'muted small description'}, dag.description) : null,
            dag.tags && dag.tags.length ? el('div', {class: 'tags'},
              dag.tags.map((t) => el('button', {type: 'button', class: 'tag', 'data-tag': t,
                                                onclick: () => { view.tag = t; tag.value = t; draw(); }}, t))) : null),
          el('td', null, el('code', null, dag.schedule === null ? 'none' : dag.schedule),
            el('div', {class: 'muted small'}, dag.timezone)),
          el('td', {class: 'next-run'}, next),
          el('td', null, squares),
          el('td', {class: 'last-run'}, last ? el('a', {href: runHref(dag.dag_id, last.run_id)},
            fmtTime(last.started_at || last.data_interval_start, dag.timezone)) : ''),
          el('td', {class: 'last-duration'}, last ? fmtDuration(last.duration_ms) : ''),
          el('td', null, dag.last_run_state ? stateBadge(dag.last_run_state) : '')));
        if (dag.parse_error) {
          rows.push(el('tr', {class: 'parse-error-row'},
            el('td', null, ''), el('td', {colspan: 7},
              el('div', {class: 'error'}, 'The file has errors; the last good version keeps running:'),
              el('pre', {class: 'parse-error'}, dag.parse_error))));
        }
      }
      if (data.length === 0) {
        rows.push(el('tr', null, el('td', {colspan: 8, class: 'muted'}, 'No DAGs yet: put YAML files in the DAG folder.')));
      } else if (shown.length === 0) {
        rows.push(el('tr', null, el('td', {colspan: 8, class: 'muted'}, 'No DAG matches the filters.')));
      }
      replace(tbody, rows);
    }

    search.addEventListener('input', () => { view.q = search.value.trim(); draw(); });
    tag.addEventListener('change', () => { view.tag = tag.value; draw(); });
    state.addEventListener('change', () => { view.state = state.value; draw(); });
    paused.addEventListener('change', () => { view.paused = paused.value; draw(); });
    drawHead();

    return {
      title: 'DAGs',
      mount(root) {
        append(root, el('h1', null, 'DAGs ', count), errorsBox,
          el('div', {class: 'filters'}, search, tag, state, paused),
          el('div', {class: 'table-wrap'}, el('table', {class: 'list dags'}, el('thead', null, headRow), tbody)));
      },
      async refresh() {
        const [dags, errors, lastRuns] = await Promise.all([
          api('GET', '/dags'), api('GET', '/import-errors'), api('GET', '/last-runs')]);
        errorsBox.hidden = errors.length === 0;
        replace(errorsBox, el('h2', null, 'Files that failed to load (' + errors.length + ')'),
          errors.map((e) => el('div', {class: 'import-error'},
            el('div', {class: 'file'}, e.file, e.dag_id ? ' (' + e.dag_id + ')' : ''),
            el('pre', null, e.message))));
        const lastByDag = new Map(lastRuns.map((r) => [r.dag_id, r]));
        data = dags.map((dag) => ({dag, last: lastByDag.get(dag.dag_id) || null}));
        const tags = [...new Set(dags.flatMap((d) => d.tags || []))].sort();
        if (tag.options.length !== tags.length + 1 || tags.some((t, i) => tag.options[i + 1].value !== t)) {
          replace(tag, el('option', {value: ''}, 'any tag'), tags.map((t) => el('option', {value: t}, 'tag: ' + t)));
        }
        tag.value = view.tag;
        draw();
      },
    };
  }

  S.pages.dags = dagsPage;
})();
