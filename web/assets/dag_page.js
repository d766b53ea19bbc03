// Sluice UI: the DAG page. Header, trigger form (a field per param, or raw
// JSON), backfill form, the grid (grid.js) with its task-instance panel
// (panel.js), the graph and the YAML source. Polling asks the grid endpoint
// for what changed since the last answer only; the DAG's full detail is
// fetched again only when its version changes.
'use strict';

(function () {
  const S = window.Sluice;
  const {el, sv, replace, append, api, act, enc, fmtTime, poller, pauseToggle, runHref} = S;

  function layoutGraph(tasks) {
    const depth = new Map();
    const byId = new Map(tasks.map((t) => [t.id, t]));
    function depthOf(id, seen) {
      if (depth.has(id)) return depth.get(id);
      if (seen.has(id)) return 0;
      seen.add(id);
      const task = byId.get(id);
      let d = 0;
      for (const up of (task ? task.depends_on : [])) d = Math.max(d, depthOf(up, seen) + 1);
      depth.set(id, d);
      return d;
    }
    const layers = [];
    for (const t of tasks) {
      const d = depthOf(t.id, new Set());
      (layers[d] = layers[d] || []).push(t.id);
    }
    const pos = new Map();
    const W = 170, H = 34, GX = 60, GY = 16;
    layers.forEach((ids, x) => ids.forEach((id, y) => {
      pos.set(id, {x: 10 + x * (W + GX), y: 10 + y * (H + GY)});
    }));
    const width = 20 + layers.length * (W + GX) - GX;
    const height = 20 + Math.max(1, ...layers.map((l) => l.length)) * (H + GY) - GY;
    return {pos, W, H, width, height};
  }

  // The graph; nodes.get(id) = {rect, badge, title} for set_state().
  function drawGraph(tasks) {
    const {pos, W, H, width, height} = layoutGraph(tasks);
    const root = sv('svg', {class: 'graph', width: width, height: height,
                            viewBox: '0 0 ' + width + ' ' + height, role: 'img'});
    root.append(sv('defs', null, sv('marker', {id: 'arrow', viewBox: '0 0 10 10', refX: 10, refY: 5,
      markerWidth: 6, markerHeight: 6, orient: 'auto-start-reverse'},
      sv('path', {d: 'M 0 0 L 10 5 L 0 10 z', class: 'arrowhead'}))));
    const nodes = new Map();
    for (const t of tasks) {
      const to = pos.get(t.id);
      for (const up of t.depends_on) {
        const from = pos.get(up);
        if (!from) continue;
        const x1 = from.x + W, y1 = from.y + H / 2, x2 = to.x, y2 = to.y + H / 2;
        const mx = (x1 + x2) / 2;
        root.append(sv('path', {class: 'edge', 'marker-end': 'url(#arrow)',
          d: `M ${x1} ${y1} C ${mx} ${y1}, ${mx} ${y2}, ${x2} ${y2}`}));
      }
    }
    for (const t of tasks) {
      const p = pos.get(t.id);
      const rect = sv('rect', {x: p.x, y: p.y, width: W, height: H, rx: 5, class: 'node st-none'});
      const label = t.id.length > 18 ? t.id.slice(0, 17) + '…' : t.id;
      const title = sv('title', null, t.id + ' (' + t.type + ')');
      const badge = sv('text', {x: p.x + W - 8, y: p.y + 21, class: 'node-badge', 'text-anchor': 'end'}, '');
      const g = sv('g', {'data-task': t.id}, title, rect,
        sv('text', {x: p.x + 8, y: p.y + 21, class: 'node-label'}, label), badge);
      nodes.set(t.id, {g, rect, badge, title, type: t.type});
      root.append(g);
    }
    return {svg: root, nodes};
  }

  // The trigger form: one field per param of the DAG, typed by its default
  // value, or the conf as raw JSON.
  function buildTrigger(box, dag, onCreated) {
    const params = dag.params || {};
    const names = Object.keys(params);
    const conf = el('textarea', {id: 'trigger-conf', rows: 5, spellcheck: 'false'});
    conf.value = JSON.stringify(params, null, 2);
    const raw = el('input', {type: 'checkbox', id: 'trigger-raw'});
    const fields = new Map();
    const typeOf = (v) => (v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v);
    const fieldBox = el('div', {class: 'param-fields'}, names.length === 0
      ? el('p', {class: 'muted small'}, 'This DAG declares no params.')
      : names.map((name) => {
        const value = params[name];
        const type = typeOf(value);
        let input;
        if (type === 'boolean') {
          input = el('input', {type: 'checkbox', id: 'param-' + name, 'data-param': name});
          input.checked = value;
        } else if (type === 'number') {
          input = el('input', {type: 'number', step: 'any', id: 'param-' + name, 'data-param': name});
          input.value = String(value);
        } else if (type === 'string') {
          input = el('input', {type: 'text', id: 'param-' + name, 'data-param': name});
          input.value = value;
        } else {
          input = el('textarea', {id: 'param-' + name, rows: 2, spellcheck: 'false', 'data-param': name});
          input.value = JSON.stringify(value);
        }
        fields.set(name, {input, type});
        return el('div', {class: 'param'},
          el('label', {for: 'param-' + name}, el('b', null, name), ' ', el('span', {class: 'param-type'}, type),
            el('span', {class: 'muted'}, ' default: ', el('code', null, JSON.stringify(value)))), input);
      }));

    function fromFields() {
      const out = {};
      for (const [name, {input, type}] of fields) {
        if (type === 'boolean') {
          out[name] = input.checked;
        } else if (type === 'number') {
          const n = Number(input.value);
          if (input.value.trim() === '' || Number.isNaN(n)) throw new Error('param ' + name + ' must be a number');
          out[name] = n;
        } else if (type === 'string') {
          out[name] = input.value;
        } else {
          try {
            out[name] = JSON.parse(input.value);
          } catch (e) {
            throw new Error('param ' + name + ' is not valid JSON: ' + e.message);
          }
        }
      }
      return out;
    }
    function fromRaw() {
      try {
        return conf.value.trim() ? JSON.parse(conf.value) : {};
      } catch (e) {
        throw new Error('conf is not valid JSON: ' + e.message);
      }
    }
    const rawBox = el('div', {class: 'raw-conf', hidden: true},
      el('label', {for: 'trigger-conf'}, 'conf (JSON, keys must be params of the DAG)'), conf);
    raw.addEventListener('change', () => {
      try {
        if (raw.checked) {
          conf.value = JSON.stringify(fromFields(), null, 2);
        } else {
          const parsed = fromRaw();
          for (const [name, {input, type}] of fields) {
            if (!(name in parsed)) continue;
            if (type === 'boolean') input.checked = !!parsed[name];
            else if (type === 'number' || type === 'string') input.value = String(parsed[name]);
            else input.value = JSON.stringify(parsed[name]);
          }
        }
      } catch (e) {
        raw.checked = !raw.checked;
        S.showError(e.message, 'action');
        return;
      }
      rawBox.hidden = !raw.checked;
      fieldBox.hidden = raw.checked;
    });
    const date = el('input', {id: 'trigger-date', type: 'text',
                              placeholder: 'optional: 2026-02-03 or 2026-02-03T02:00:00'});
    const result = el('div', {class: 'trigger-result'});
    const button = el('button', {id: 'trigger-button', type: 'button'}, 'Trigger');
    button.addEventListener('click', () => act(button, async () => {
      const body = {conf: raw.checked ? fromRaw() : fromFields()};
      if (date.value.trim()) body.date = date.value.trim();
      const run = await api('POST', '/dags/' + enc(dag.dag_id) + '/runs', body);
      onCreated();
      replace(result, 'Created ', el('a', {href: runHref(dag.dag_id, run.run_id)}, run.run_id));
    }));
    append(box, fieldBox,
      el('label', {class: 'raw-toggle'}, raw, ' edit the conf as raw JSON'), rawBox,
      el('label', {for: 'trigger-date'}, 'date (default: the latest complete interval)'), date,
      el('div', null, button), result);
  }

  function dagPage(dagId) {
    let offset = 0;
    let detail = null;
    let graph = null;
    let graphOf = null;  // the grid answer's graph it was drawn from
    let formsBuilt = false;
    const data = new S.grid.GridData();
    const header = el('div', {class: 'dag-header'});
    const errorBox = el('div');
    const triggerBox = el('details', {class: 'trigger'}, el('summary', null, 'Trigger a run'));
    const backfillBox = el('details', {class: 'backfill'}, el('summary', null, 'Backfill a range'));
    const gridBox = el('div', {class: 'grid-box'});
    const pager = el('div', {class: 'pager'});
    const graphBox = el('div', {class: 'graph-box'});
    const yamlPre = el('pre', {class: 'yaml'});
    const tz = () => (data.dag ? data.dag.timezone : detail ? detail.timezone : 'UTC');
    const panel = S.taskPanel(dagId, tz);

    function drawHeader(dag) {
      replace(header,
        el('h1', null, dag.dag_id, ' ', pauseToggle(dag)),
        dag.description ? el('p', {class: 'description'}, dag.description) : null,
        el('div', {class: 'dag-links'}, el('a', {href: S.dagHref(dagId) + '/calendar', id: 'calendar-link'}, 'Calendar')),
        el('dl', {class: 'facts'},
          el('dt', null, 'schedule'), el('dd', null, el('code', null, dag.schedule === null ? 'none' : dag.schedule)),
          el('dt', null, 'time zone'), el('dd', null, dag.timezone),
          el('dt', null, 'next run'), el('dd', {class: 'next-run'}, S.nextRun(dag) || '—'),
          el('dt', null, 'file'), el('dd', null, el('code', null, dag.file)),
          el('dt', null, 'version'), el('dd', null, dag.version_id ? String(dag.version_id) : '—')));
      replace(errorBox, dag.parse_error
        ? [el('div', {class: 'error'}, 'The file has errors; the last good version keeps running:'),
           el('pre', {class: 'parse-error'}, dag.parse_error)]
        : null);
    }

    function setDetail(d) {
      detail = d;
      if (yamlPre.textContent !== detail.yaml) yamlPre.textContent = detail.yaml;
    }

    function colourGraph() {
      if (!graph) return;
      const latest = offset === 0 ? data.runs[0] : null;
      for (const [task, node] of graph.nodes) {
        const ti = latest ? latest.tasks[task] : null;
        const state = ti ? ti.state : 'none';
        node.rect.setAttribute('class', 'node st-' + state);
        node.g.setAttribute('data-state', state);
        const counts = ti && ti.mapped ? S.grid.countsText(ti.counts) : '';
        node.g.setAttribute('data-counts', counts);
        node.badge.textContent = ti && ti.mapped ? '×' + ti.mapped : '';
        node.title.textContent = task + ' (' + node.type + ')' + (latest ? ': ' + state : '') + (counts ? '\n' + counts : '');
      }
    }

    function drawPager() {
      const newer = el('button', {type: 'button', disabled: offset === 0}, '← newer');
      newer.addEventListener('click', () => { offset = Math.max(0, offset - S.GRID_RUNS); data.reset(); poller.kick(); });
      const older = el('button', {type: 'button', disabled: !data.hasMore}, 'older →');
      older.addEventListener('click', () => { offset += S.GRID_RUNS; data.reset(); poller.kick(); });
      replace(pager, newer, ' ', older,
        el('span', {class: 'muted'}, ' runs ' + (offset + 1) + '–' + (offset + data.runs.length)));
    }

    return {
      title: dagId,
      mount(root) {
        append(root, header, errorBox, triggerBox, backfillBox,
          el('h2', null, 'Runs'), pager,
          el('div', {class: 'grid-area'}, gridBox, panel.element), S.grid.legend(),
          el('h2', null, 'Graph'), graphBox,
          el('details', {class: 'source'}, el('summary', null, 'YAML source'), yamlPre));
      },
      async refresh() {
        // The grid's answer has all the first paint needs (header, graph,
        // grid); the detail (YAML, params for the trigger form) comes after.
        const answer = await api('GET', '/dags/' + enc(dagId) + '/grid?limit=' + S.GRID_RUNS + '&offset=' + offset +
          (data.marker ? '&since=' + data.marker : ''));
        const changed = data.take(answer);
        if (!changed && !answer.unchanged) return this.refresh();  // lost our place: ask in full
        if (!changed) {
          if (panel.isRunning) await panel.refresh();
          return;
        }
        const summary = data.dag;
        if (data.graph && graphOf !== data.graph) {
          graphOf = data.graph;
          graph = drawGraph(data.graph);
          replace(graphBox, graph.svg);
        }
        drawHeader(summary);
        replace(gridBox, S.grid.drawGrid(dagId, data, tz(), (run, task) => panel.open(run.run_id, task)));
        drawPager();
        colourGraph();
        if (!detail || detail.version_id !== summary.version_id) setDetail(await api('GET', '/dags/' + enc(dagId)));
        if (!formsBuilt) {
          buildTrigger(triggerBox, detail, () => { offset = 0; data.reset(); });
          S.buildBackfillForm(backfillBox, dagId);
          formsBuilt = true;
        }
        if (panel.isOpen) await panel.refresh();
      },
    };
  }

  // The next run's interval start and when it will be created; app.js's
  // nextRunView where it has one (the list and the DAG page show the same).
  S.nextRun = (dag) => {
    if (S.nextRunView) return S.nextRunView(dag);
    if (!dag.next_run) return '';
    return [fmtTime(dag.next_run.data_interval_start, dag.timezone), el('div', {class: 'muted small'},
      'runs after ' + fmtTime(dag.next_run.data_interval_end, dag.timezone))];
  };
  S.pages.dag = dagPage;
  S.drawGraph = drawGraph;
})();
