/// The wallboard's page, style and script: static, served as they are (no template), so
/// that nothing from the log is ever written into markup by the server. The script builds
/// the board with DOM methods and `textContent` only.
enum WallboardPage {
    static let html = """
        <!doctype html>
        <html lang="en-GB">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>hotlined wallboard</title>
        <link rel="stylesheet" href="wallboard.css">
        <script src="wallboard.js" defer></script>
        </head>
        <body>
        <header>
          <h1>Control room wallboard</h1>
          <div id="clock" aria-label="time now">--:--:--</div>
          <div id="status" class="status down" role="status">Connecting…</div>
        </header>
        <p class="privacy">This board shows no caller identity, no notes and no locations. Figures are for today, local time.</p>
        <main>
          <section id="alerts-panel" aria-labelledby="alerts-title">
            <h2 id="alerts-title">Unacknowledged alerts <span id="alerts-count" class="count">0</span></h2>
            <div id="alerts"><p class="clear">Waiting for the first figures…</p></div>
          </section>
          <section id="open-panel" aria-labelledby="open-title">
            <h2 id="open-title">Calls open now</h2>
            <div id="open" class="tiles"></div>
          </section>
          <section id="standard-panel" aria-labelledby="standard-title">
            <h2 id="standard-title">Answer times today</h2>
            <div id="standard"></div>
          </section>
          <section id="hours-panel" aria-labelledby="hours-title">
            <h2 id="hours-title">Calls per hour today</h2>
            <div id="legend" class="legend"></div>
            <div id="hours"></div>
          </section>
        </main>
        </body>
        </html>

        """

    static let css = """
        * { box-sizing: border-box; }
        body { margin: 0; padding: 12px 18px; background: #ffffff; color: #1b1f24;
          font: 16px/1.35 "DejaVu Sans", "Liberation Sans", Arial, sans-serif; }
        header { display: flex; align-items: center; gap: 24px; }
        h1 { font-size: 26px; margin: 0; flex: 1; }
        h2 { font-size: 19px; margin: 0 0 8px; }
        #clock { font-size: 30px; font-variant-numeric: tabular-nums; font-weight: bold; }
        .status { padding: 6px 14px; border-radius: 6px; font-weight: bold; color: #ffffff; }
        .status.live { background: #0d47a1; }
        .status.down { background: #6a1b9a; }
        .privacy { margin: 6px 0 12px; color: #4a5560; font-size: 14px; }
        main { display: grid; grid-template-columns: 3fr 2fr; gap: 14px; }
        section { border: 1px solid #c8ced4; border-radius: 8px; padding: 10px 12px; }
        #alerts-panel { grid-row: span 2; }
        #hours-panel { grid-column: 1 / span 2; }
        .count { display: inline-block; min-width: 1.6em; text-align: center; border-radius: 1em;
          background: #e3e7eb; padding: 0 8px; }
        table { width: 100%; border-collapse: separate; border-spacing: 0 6px; }
        th { text-align: left; font-size: 13px; color: #4a5560; font-weight: normal; }
        td { padding: 10px 10px; font-size: 20px; font-weight: bold; }
        tr.alert td:first-child { border-radius: 6px 0 0 6px; }
        tr.alert td:last-child { border-radius: 0 6px 6px 0; text-align: right; font-variant-numeric: tabular-nums; }
        tr.level-1 td { background: #f9a825; color: #1b1f24; }
        tr.level-2 td { background: #ef6c00; color: #ffffff; }
        tr.level-3 td, tr.level-4 td, tr.level-5 td { background: #b71c1c; color: #ffffff; }
        .clear { margin: 0; padding: 18px; border-radius: 6px; background: #2e7d32; color: #ffffff;
          font-size: 22px; font-weight: bold; text-align: center; }
        .more { color: #4a5560; }
        .tiles { display: flex; flex-wrap: wrap; gap: 10px; }
        .tile { flex: 1 1 120px; border-radius: 6px; background: #eef1f4; padding: 8px 10px; }
        .tile .n { font-size: 36px; font-weight: bold; font-variant-numeric: tabular-nums; }
        .tile .label { font-size: 14px; color: #4a5560; }
        .route { margin-bottom: 12px; }
        .route .line { display: flex; justify-content: space-between; align-items: baseline; gap: 8px; }
        .route .name { font-weight: bold; }
        .badge { padding: 2px 10px; border-radius: 4px; font-weight: bold; color: #ffffff; }
        .badge.met { background: #2e7d32; }
        .badge.missed { background: #ad1457; }
        .badge.none { background: #78848f; }
        .bar { position: relative; height: 14px; background: #e3e7eb; border-radius: 3px; margin: 4px 0; }
        .bar .fill { position: absolute; left: 0; top: 0; bottom: 0; border-radius: 3px; }
        .bar .fill.met { background: #2e7d32; }
        .bar .fill.missed { background: #ad1457; }
        .bar .target { position: absolute; top: -3px; bottom: -3px; width: 3px; background: #1b1f24; }
        .detail { font-size: 14px; color: #4a5560; }
        .legend { display: flex; gap: 16px; font-size: 14px; margin-bottom: 6px; }
        .legend .key { display: inline-block; width: 12px; height: 12px; margin-right: 5px; vertical-align: -1px; }
        svg text { font: 11px "DejaVu Sans", Arial, sans-serif; fill: #4a5560; }
        .error { margin: 0 0 10px; padding: 10px; border-radius: 6px; background: #6a1b9a; color: #ffffff; font-weight: bold; }

        """

    /// Route colours in the chart, in the configured order; each is used for nothing else.
    static let script = """
        'use strict';
        (function () {
          const colours = ['#1e88e5', '#8e24aa', '#00897b', '#6d4c41', '#3949ab', '#c0ca33', '#757575'];
          let board = null;
          let offset = 0; // server clock minus this browser's, in ms
          let lastBoardAt = 0;

          function el(tag, cls, text) {
            const e = document.createElement(tag);
            if (cls) e.className = cls;
            if (text !== undefined) e.textContent = String(text);
            return e;
          }
          function svg(tag, attrs) {
            const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
            for (const k in attrs) e.setAttribute(k, attrs[k]);
            return e;
          }
          function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
          function duration(seconds) {
            seconds = Math.max(0, Math.floor(seconds));
            const h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
            const two = (n) => (n < 10 ? '0' : '') + n;
            return (h > 0 ? h + ':' + two(m) : String(m)) + ':' + two(s);
          }
          function words(slug) { return String(slug).replace(/-/g, ' '); }
          function now() { return Date.now() + offset; }

          function setStatus(live, text) {
            const s = document.getElementById('status');
            s.className = 'status ' + (live ? 'live' : 'down');
            s.textContent = text;
          }

          function renderAlerts(b) {
            const box = document.getElementById('alerts');
            clear(box);
            document.getElementById('alerts-count').textContent = String(b.unacknowledged_total);
            if (b.storage_fault) box.appendChild(el('p', 'error', 'STORAGE FAULT: ' + b.storage_fault));
            if (b.alerts.length === 0) {
              box.appendChild(el('p', 'clear', 'No unacknowledged alerts'));
              return;
            }
            const table = el('table');
            const head = el('tr');
            for (const h of ['Level', 'Route', 'Channel', 'Why', 'Grade', 'Waiting']) head.appendChild(el('th', '', h));
            table.appendChild(head);
            for (const a of b.alerts) {
              const row = el('tr', 'alert level-' + Math.min(5, a.level));
              row.dataset.raisedAt = a.raised_at;
              row.appendChild(el('td', '', 'L' + a.level));
              row.appendChild(el('td', '', a.route));
              // How the caller reached the room: a BSL or SMS call is answered differently.
              row.appendChild(el('td', 'channel', a.channel || 'voice'));
              row.appendChild(el('td', '', words(a.reason)));
              row.appendChild(el('td', '', a.grade));
              row.appendChild(el('td', 'age', duration((now() - Date.parse(a.raised_at)) / 1000)));
              table.appendChild(row);
            }
            box.appendChild(table);
            const more = b.unacknowledged_total - b.alerts.length;
            if (more > 0) box.appendChild(el('p', 'more', '… and ' + more + ' more: the highest levels and the longest waiting are shown first'));
          }

          function renderOpen(b) {
            const box = document.getElementById('open');
            clear(box);
            for (const route of b.routes) {
              const n = b.open_by_route[route] || 0;
              if (n === 0 && !(route in b.answer_times)) continue;
              const tile = el('div', 'tile');
              tile.appendChild(el('div', 'n', n));
              tile.appendChild(el('div', 'label', route));
              box.appendChild(tile);
            }
          }

          function renderStandard(b) {
            const box = document.getElementById('standard');
            clear(box);
            for (const route of b.routes) {
              const t = b.answer_times[route];
              if (!t || (t.presented === 0 && !t.standard)) continue;
              const div = el('div', 'route');
              div.dataset.route = route;
              const line = el('div', 'line');
              line.appendChild(el('span', 'name', route));
              const detail = t.presented + ' presented, ' + t.answered + ' answered, ' + t.abandoned + ' abandoned, ' +
                t.waiting + ' waiting';
              if (t.standard) {
                const s = t.standard;
                const target = Math.round(s.share * 100);
                let badge;
                if (t.answered === 0) {
                  badge = el('span', 'badge none', 'no calls answered yet');
                } else {
                  const pct = Math.floor(s.calls_within * 100 / t.answered);
                  badge = el('span', 'badge ' + (s.met ? 'met' : 'missed'),
                    pct + '% within ' + s.within_seconds + ' s · target ' + target + '% · ' + (s.met ? 'MET' : 'NOT MET'));
                }
                line.appendChild(badge);
                div.appendChild(line);
                const bar = el('div', 'bar');
                if (t.answered > 0) {
                  const fill = el('div', 'fill ' + (s.met ? 'met' : 'missed'));
                  fill.style.width = (s.calls_within * 100 / t.answered).toFixed(1) + '%';
                  bar.appendChild(fill);
                }
                const mark = el('div', 'target');
                mark.style.left = 'calc(' + (s.share * 100).toFixed(1) + '% - 1px)';
                bar.appendChild(mark);
                div.appendChild(bar);
              } else {
                line.appendChild(el('span', 'badge none', t.mean_seconds === null ? 'no standard' :
                  'mean wait ' + Math.round(t.mean_seconds) + ' s'));
                div.appendChild(line);
              }
              div.appendChild(el('div', 'detail', detail));
              box.appendChild(div);
            }
          }

          function renderHours(b) {
            const legend = document.getElementById('legend');
            const box = document.getElementById('hours');
            clear(legend);
            clear(box);
            const routes = b.routes.filter((r) => (b.per_hour[r] || []).some((n) => n > 0));
            const n = b.hours.length;
            let top = 1;
            for (let i = 0; i < n; i++) {
              let sum = 0;
              for (const r of routes) sum += b.per_hour[r][i];
              top = Math.max(top, sum);
            }
            routes.forEach((r) => {
              const key = el('span');
              const sw = el('span', 'key');
              sw.style.background = colours[Math.min(b.routes.indexOf(r), colours.length - 1)];
              key.appendChild(sw);
              key.appendChild(document.createTextNode(r));
              legend.appendChild(key);
            });
            const width = 1000, height = 170, left = 34, bottom = 18, slot = (width - left) / Math.max(1, n);
            const chart = svg('svg', { viewBox: '0 0 ' + width + ' ' + height, width: '100%', role: 'img',
              'aria-label': 'calls received per hour today, by route' });
            const scale = (height - bottom - 6) / top;
            const label = svg('text', { x: 0, y: 12 });
            label.textContent = String(top);
            chart.appendChild(label);
            for (let i = 0; i < n; i++) {
              let y = height - bottom;
              for (const r of routes) {
                const v = b.per_hour[r][i];
                if (v === 0) continue;
                const h = v * scale;
                y -= h;
                chart.appendChild(svg('rect', { x: left + i * slot + 2, y: y, width: Math.max(1, slot - 4), height: h,
                  fill: colours[Math.min(b.routes.indexOf(r), colours.length - 1)] }));
              }
              if (i % 2 === 0) {
                const t = svg('text', { x: left + i * slot + 2, y: height - 4 });
                t.textContent = b.hours[i];
                chart.appendChild(t);
              }
            }
            box.appendChild(chart);
          }

          function render(b) {
            board = b;
            offset = Date.parse(b.at) - Date.now();
            lastBoardAt = Date.now();
            renderAlerts(b);
            renderOpen(b);
            renderStandard(b);
            renderHours(b);
            document.body.dataset.boardAt = b.at;
          }

          function tick() {
            const t = new Date(now());
            const two = (n) => (n < 10 ? '0' : '') + n;
            document.getElementById('clock').textContent = two(t.getHours()) + ':' + two(t.getMinutes()) + ':' + two(t.getSeconds());
            for (const cell of document.querySelectorAll('tr.alert')) {
              cell.querySelector('.age').textContent = duration((now() - Date.parse(cell.dataset.raisedAt)) / 1000);
            }
            if (board && Date.now() - lastBoardAt > 15000) setStatus(false, 'NOT LIVE: no update for ' +
              duration((Date.now() - lastBoardAt) / 1000) + ', figures may be out of date');
          }

          function connect() {
            const source = new EventSource('events');
            source.addEventListener('board', (e) => {
              render(JSON.parse(e.data));
              setStatus(true, 'LIVE');
            });
            source.onerror = () => setStatus(false, 'NOT LIVE: reconnecting, figures may be out of date');
          }

          document.addEventListener('DOMContentLoaded', () => {
            connect();
            tick();
            setInterval(tick, 1000);
          });
        })();

        """
}
