// Sluice UI: a DAG's calendar, a year of days coloured by the outcome of
// the runs whose data interval starts on that day (in the DAG's time zone),
// as Airflow's calendar view. Route: #/dag/ID/calendar[/YEAR].
'use strict';

(function () {
  const S = window.Sluice;
  const {el, sv, replace, append, api, enc, dagHref} = S;
  const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

  function calendarChart(year, days) {
    const byDate = new Map(days.map((d) => [d.date, d]));
    const CELL = 13, GAP = 2, LEFT = 28, TOP = 16;
    const jan1 = Date.UTC(year, 0, 1);
    const firstWeekday = (new Date(jan1).getUTCDay() + 6) % 7;  // Monday first
    const count = (Date.UTC(year + 1, 0, 1) - jan1) / 86400000;
    const weeks = Math.ceil((count + firstWeekday) / 7);
    const root = sv('svg', {class: 'calendar', width: LEFT + weeks * (CELL + GAP), height: TOP + 7 * (CELL + GAP),
                            role: 'img', 'aria-label': 'runs per day of ' + year});
    ['Mon', '', 'Wed', '', 'Fri', '', ''].forEach((label, i) => {
      if (label) root.append(sv('text', {x: 0, y: TOP + i * (CELL + GAP) + 10, class: 'cal-label'}, label));
    });
    for (let i = 0; i < count; i++) {
      const day = new Date(jan1 + i * 86400000);
      const iso = day.toISOString().slice(0, 10);
      const slot = i + firstWeekday;
      const week = Math.floor(slot / 7), weekday = slot % 7;
      if (day.getUTCDate() === 1) {
        root.append(sv('text', {x: LEFT + week * (CELL + GAP), y: 11, class: 'cal-label'}, MONTHS[day.getUTCMonth()]));
      }
      const d = byDate.get(iso);
      const counts = d ? S.grid.countsText(d.counts) : 'no runs';
      root.append(sv('rect', {x: LEFT + week * (CELL + GAP), y: TOP + weekday * (CELL + GAP), width: CELL, height: CELL,
                              rx: 2, class: 'day st-' + (d ? d.state : 'none'), 'data-date': iso,
                              'data-state': d ? d.state : 'none'},
        sv('title', null, iso + ': ' + counts)));
    }
    return root;
  }

  function calendarPage(dagId, year) {
    const head = el('div');
    const chart = el('div', {class: 'calendar-box'});
    const summary = el('p', {class: 'muted small', id: 'calendar-summary'});
    return {
      title: dagId + ' calendar',
      mount(root) {
        append(root, head, chart, summary, el('div', {class: 'legend'},
          ['success', 'failed', 'running', 'queued', 'canceled', 'none'].map((s) =>
            el('span', {class: 'legend-item'}, el('span', {class: 'sq st-' + s}), s === 'none' ? 'no run' : s)),
          el('span', {class: 'legend-item muted'}, 'a day shows its worst run')));
      },
      async refresh() {
        const cal = await api('GET', '/dags/' + enc(dagId) + '/calendar' + (year ? '?year=' + year : ''));
        const base = dagHref(dagId) + '/calendar/';
        replace(head,
          el('div', {class: 'crumbs'}, el('a', {href: dagHref(dagId)}, dagId), ' / calendar'),
          el('h1', null, dagId, ' — ', String(cal.year)),
          el('div', {class: 'year-nav'}, el('a', {href: base + (cal.year - 1)}, '← ' + (cal.year - 1)), ' ',
            el('a', {href: base + (cal.year + 1)}, (cal.year + 1) + ' →'),
            el('span', {class: 'muted small'}, ' days in ' + cal.timezone)));
        replace(chart, calendarChart(cal.year, cal.days));
        const runs = cal.days.reduce((n, d) => n + d.total, 0);
        const failed = cal.days.filter((d) => d.state === 'failed').length;
        summary.textContent = runs + ' runs on ' + cal.days.length + ' days; ' + failed + ' days with a failed run.';
      },
    };
  }

  S.routes.push((parts) => {
    if (parts[0] === 'dag' && parts[2] === 'calendar' && parts.length >= 3) {
      return calendarPage(parts[1], parseInt(parts[3], 10) || null);
    }
    return null;
  });
})();
