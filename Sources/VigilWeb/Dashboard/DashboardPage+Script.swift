//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

extension DashboardPage {
    /// The dashboard's behaviour, plain JavaScript without a build step.
    ///
    /// - One WebSocket to `/api/v1/live`: the snapshot fills every table, then each `state` message
    ///   replaces one target and each `event` message is prepended to the log. On close it
    ///   reconnects with exponential backoff (1 s doubling to 30 s, with jitter).
    /// - "stale": the page dims and says so when the socket is down or no message, not even a
    ///   heartbeat, has arrived for 25 s.
    /// - Tables know the attribute names the sources use (gateways, devices, agents, MediaMTX,
    ///   Visionaire, hosts); anything else is visible in the details panel as key/value pairs.
    /// - Charts: `/api/v1/series` and `/api/v1/history` for the chosen target and range, drawn with
    ///   Chart.js when `/assets/chart.js` loaded, else as a plain SVG line. Live updates of the
    ///   chosen target extend the charts.
    /// - `window.vigil` exposes the page state (for the browser test and curious operators).
    static let script = #"""
    (function () {
      'use strict';
      const KINDS = ['gateway', 'device', 'agent', 'stream', 'host'];
      const STALE_AFTER_MS = 25000;
      const PREFERRED = ['cpu_usage_ratio', 'memory_used_ratio', 'sessions', 'inbound_bits_per_second', 'srt_rtt_seconds',
        'readers', 'outbound_bits_per_second', 'network_receive_bytes_per_second', 'network_transmit_bytes_per_second',
        'load1', 'fps', 'up'];
      const vigil = {
        targets: new Map(), events: [], lastEventID: 0, ws: null, backoff: 1000, lastMessage: 0, connected: false,
        snapshots: 0, updates: 0, selected: null, charts: [], chartsRendered: 0, chartTarget: null,
        token: localStorage.getItem('vigil.token') || ''
      };
      window.vigil = vigil;
      const $ = (id) => document.getElementById(id);
      const dirty = new Set();
      const flashing = new Set();
      let renderTimer = null;

      // MARK: formatting
      function esc(v) {
        return String(v === undefined || v === null ? '' : v).replace(/[&<>"']/g,
          (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);
      }
      function keyOf(t) { return t.kind + '/' + t.name; }
      function isNum(v) { return typeof v === 'number' && isFinite(v); }
      function span(seconds) {
        seconds = Math.max(0, seconds);
        if (seconds < 60) return Math.round(seconds) + ' s';
        if (seconds < 3600) return Math.round(seconds / 60) + ' min';
        if (seconds < 86400) return (seconds / 3600).toFixed(1) + ' h';
        return (seconds / 86400).toFixed(1) + ' d';
      }
      function ago(time) {
        if (!isNum(time) || time <= 0) return '<span class="muted">—</span>';
        return '<span class="age" data-time="' + time + '">' + span(Date.now() / 1000 - time) + ' ago</span>';
      }
      function scaled(v, unit, base) {
        if (!isNum(v)) return '—';
        const prefixes = ['', 'k', 'M', 'G', 'T'];
        let i = 0;
        while (Math.abs(v) >= base && i < prefixes.length - 1) { v /= base; i++; }
        return (i === 0 ? v.toFixed(0) : v.toFixed(1)) + ' ' + prefixes[i] + unit;
      }
      function bits(v) { return scaled(v, 'bit/s', 1000); }
      function bytesRate(v) { return scaled(v, 'B/s', 1024); }
      function pct(v) { return isNum(v) ? (v * 100).toFixed(1) + ' %' : '—'; }
      function num(v, digits) { return isNum(v) ? v.toFixed(digits || 0) : (v === undefined || v === null ? '—' : esc(v)); }
      function badge(status) { return '<span class="badge ' + esc(status) + '">' + esc(status) + '</span>'; }
      function yesNo(v) { return v === true ? 'yes' : v === false ? 'no' : '—'; }
      function attr(s, name) { return s.attributes ? s.attributes[name] : undefined; }
      function val(s, name) { return s.values ? s.values[name] : undefined; }
      function sumValues(s, name) {
        let total = 0, seen = false;
        for (const k in (s.values || {})) {
          if (k === name || k.startsWith(name + '{')) { total += s.values[k]; seen = true; }
        }
        return seen ? total : undefined;
      }
      function text(v) {
        if (v === undefined || v === null) return '—';
        if (typeof v === 'object') {
          if (Array.isArray(v)) return esc(v.join(', '));
          return esc(Object.entries(v).map(([k, x]) => k + ' → ' + (typeof x === 'object' ? JSON.stringify(x) : x)).join(', '));
        }
        return esc(v);
      }
      function time(t) { return isNum(t) ? new Date(t * 1000).toLocaleString() : '—'; }

      // MARK: tables
      function row(s, cells) {
        const k = keyOf(s.target);
        const classes = [];
        if (flashing.has(k)) classes.push('flash');
        if (vigil.selected === k) classes.push('selected');
        return '<tr data-target="' + esc(k) + '" data-status="' + esc(s.status) + '" class="' + classes.join(' ') + '">' +
          cells.map((c) => c.startsWith('<td') ? c : '<td>' + c + '</td>').join('') + '</tr>';
      }
      function numCell(v) { return '<td class="num">' + v + '</td>'; }
      function statesOf(kind) {
        return Array.from(vigil.targets.values()).filter((s) => s.target.kind === kind)
          .sort((a, b) => a.target.name.localeCompare(b.target.name));
      }
      function fill(tableID, rows, columns) {
        const body = document.querySelector('#' + tableID + ' tbody');
        body.innerHTML = rows.length ? rows.join('') : '<tr><td class="empty" colspan="' + columns + '">none</td></tr>';
      }
      const renderers = {
        gateway() {
          fill('gateways-table', statesOf('gateway').map((s) => row(s, [
            esc(s.target.name), badge(s.status), yesNo(attr(s, 'online')),
            numCell(num(attr(s, 'sessions') !== undefined && attr(s, 'sessions') !== null ? attr(s, 'sessions') : val(s, 'sessions'))),
            text(attr(s, 'role')), text(attr(s, 'failover')), ago(attr(s, 'last_seen'))
          ])), 7);
        },
        device() {
          fill('devices-table', statesOf('device').map((s) => row(s, [
            esc(s.target.name), badge(s.status), text(attr(s, 'state')),
            ago(attr(s, 'last_contact') !== undefined ? attr(s, 'last_contact') : val(s, 'last_seen_seconds')),
            numCell(num(attr(s, 'hello_count'))), numCell(isNum(attr(s, 'watch_timeout')) ? span(attr(s, 'watch_timeout')) : '—')
          ])), 6);
        },
        agent() {
          fill('agents-table', statesOf('agent').map((s) => row(s, [
            esc(s.target.name), badge(s.status), text(attr(s, 'state')), numCell(num(attr(s, 'pid'))),
            numCell(num(attr(s, 'restarts') !== undefined ? attr(s, 'restarts') : val(s, 'restarts_total'))),
            ago(attr(s, 'last_start')), ago(attr(s, 'last_contact'))
          ])), 7);
        },
        stream() {
          const all = statesOf('stream');
          const cameras = all.filter((s) => attr(s, 'source') === 'visionaire');
          const paths = all.filter((s) => attr(s, 'source') !== 'visionaire');
          fill('streams-table', paths.map((s) => {
            const srt = attr(s, 'srt') || {};
            let rtt = isNum(srt.ms_rtt) ? srt.ms_rtt : attr(s, 'rtt_p50_ms');
            if (!isNum(rtt) && isNum(val(s, 'srt_rtt_seconds'))) rtt = val(s, 'srt_rtt_seconds') * 1000;
            const bitrate = isNum(val(s, 'inbound_bits_per_second')) ? val(s, 'inbound_bits_per_second') : attr(s, 'inbound_bps_10s');
            const instance = attr(s, 'type') === 'instance';
            const source = instance ? 'instance ' + (attr(s, 'version') || '') : (attr(s, 'source_type') || attr(s, 'source') || '');
            return row(s, [
              esc(s.target.name), badge(s.status), esc(source),
              numCell(instance ? num(attr(s, 'paths_online')) + ' / ' + num(attr(s, 'paths')) + ' paths' : bits(bitrate)),
              numCell(num(attr(s, 'readers') !== undefined ? attr(s, 'readers') : val(s, 'readers'))),
              numCell(isNum(rtt) ? rtt.toFixed(1) + ' ms' : '—'), ago(s.updatedAt)
            ]);
          }), 7);
          const sites = new Map();
          for (const s of cameras) {
            const site = attr(s, 'source_host') || 'cameras';
            if (!sites.has(site)) sites.set(site, []);
            sites.get(site).push(s);
          }
          const html = Array.from(sites.entries()).sort((a, b) => a[0].localeCompare(b[0])).map(([site, list]) => {
            const up = list.filter((s) => s.status === 'up').length;
            return '<div class="site"><h4>' + esc(site) + ' <span class="muted">' + up + ' / ' + list.length + ' up</span></h4><div class="cams">' +
              list.map((s) => '<span class="cam ' + esc(s.status) + '" data-target="' + esc(keyOf(s.target)) + '" data-status="' + esc(s.status) + '">' +
                '<span class="dot ' + esc(s.status) + '"></span>' + esc(attr(s, 'stream_name') || s.target.name) + ' ' +
                (s.status === 'up' ? 'UP' : 'DOWN') + '</span>').join('') + '</div></div>';
          }).join('');
          $('cameras').innerHTML = html || '<p class="muted">none</p>';
        },
        host() {
          fill('hosts-table', statesOf('host').map((s) => row(s, [
            esc(s.target.name), badge(s.status), numCell(pct(val(s, 'cpu_usage_ratio'))), numCell(pct(val(s, 'memory_used_ratio'))),
            numCell(num(val(s, 'load1'), 2)), numCell(bytesRate(sumValues(s, 'network_receive_bytes_per_second'))),
            numCell(bytesRate(sumValues(s, 'network_transmit_bytes_per_second')))
          ])), 7);
        }
      };

      function renderOverview() {
        $('overview').innerHTML = KINDS.map((kind) => {
          const list = statesOf(kind);
          const counts = {};
          for (const s of list) counts[s.status] = (counts[s.status] || 0) + 1;
          const split = Object.keys(counts).sort().map((st) => '<span><span class="dot ' + esc(st) + '"></span>' + counts[st] + ' ' + esc(st) + '</span>').join('');
          return '<div class="card" data-kind="' + kind + '"><div class="kind">' + kind + 's</div><div class="count">' + list.length +
            '</div><div class="split">' + (split || '<span class="muted">none</span>') + '</div></div>';
        }).join('');
      }

      function renderEvents() {
        const body = document.querySelector('#events-table tbody');
        body.innerHTML = vigil.events.length ? vigil.events.map((e) => '<tr data-event="' + e.id + '"><td>' + time(e.time) + '</td><td class="sev-' +
          esc(e.severity) + '">' + esc(e.severity) + '</td><td>' + (e.target ? esc(keyOf(e.target)) : '') + '</td><td>' + esc(e.message) + '</td></tr>').join('')
          : '<tr><td class="empty" colspan="4">no events</td></tr>';
      }

      function renderDetails() {
        const s = vigil.selected && vigil.targets.get(vigil.selected);
        $('details-title').textContent = s ? vigil.selected : 'click a row';
        const body = document.querySelector('#details-table tbody');
        if (!s) { body.innerHTML = ''; return; }
        const rows = [['status', s.status], ['since', time(s.since)], ['updated', time(s.updatedAt)]];
        for (const k of Object.keys(s.attributes || {}).sort()) {
          const v = s.attributes[k];
          rows.push([k, typeof v === 'object' && v !== null ? JSON.stringify(v) : v]);
        }
        for (const k of Object.keys(s.values || {}).sort()) rows.push([k + ' (sample)', s.values[k]]);
        body.innerHTML = rows.map(([k, v]) => '<tr><td>' + esc(k) + '</td><td>' + esc(v) + '</td></tr>').join('');
      }

      function render() {
        renderTimer = null;
        for (const kind of dirty) renderers[kind]();
        dirty.clear();
        renderOverview();
        renderDetails();
        flashing.clear();
      }
      function scheduleRender() { if (!renderTimer) renderTimer = setTimeout(render, 50); }
      function renderAll() { for (const k of KINDS) dirty.add(k); render(); renderEvents(); }

      // MARK: live feed
      function setConnection(status, detail) {
        const el = $('conn-status');
        el.className = 'badge ' + status;
        el.textContent = status;
        $('conn-detail').textContent = detail || '';
        document.body.classList.toggle('stale', status !== 'live');
      }

      function addEvent(e) {
        if (e.id && e.id <= vigil.lastEventID) return;
        if (e.id) vigil.lastEventID = e.id;
        vigil.events.unshift(e);
        if (vigil.events.length > 200) vigil.events.length = 200;
      }

      function handle(message) {
        switch (message.type) {
          case 'snapshot': {
            vigil.targets.clear();
            for (const s of message.states) vigil.targets.set(keyOf(s.target), s);
            for (const e of message.events) addEvent(e);
            vigil.snapshots++;
            vigil.connected = true;
            setConnection('live', 'since ' + new Date().toLocaleTimeString());
            renderAll();
            refreshTargetChoices();
            break;
          }
          case 'state': {
            const s = message.state;
            const k = keyOf(s.target);
            const known = vigil.targets.has(k);
            vigil.targets.set(k, s);
            vigil.updates++;
            flashing.add(k);
            dirty.add(s.target.kind);
            scheduleRender();
            if (!known) refreshTargetChoices();
            if (vigil.chartTarget === k) extendCharts(s);
            break;
          }
          case 'removed': {
            const k = keyOf(message.target);
            if (vigil.targets.delete(k)) {
              dirty.add(message.target.kind);
              scheduleRender();
              refreshTargetChoices();
            }
            break;
          }
          case 'event':
            addEvent(message.event);
            renderEvents();
            break;
          case 'error':
            console.warn('vigil live feed:', message.error);
            break;
          default:
            break;
        }
      }

      function connect() {
        const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
        let url = scheme + '//' + location.host + '/api/v1/live';
        if (vigil.token) url += '?token=' + encodeURIComponent(vigil.token);
        setConnection(vigil.snapshots ? 'reconnecting' : 'connecting', '');
        const ws = new WebSocket(url);
        vigil.ws = ws;
        let opened = false;
        ws.onopen = () => { opened = true; vigil.backoff = 1000; };
        ws.onmessage = (event) => {
          vigil.lastMessage = Date.now();
          try { handle(JSON.parse(event.data)); } catch (error) { console.error(error); }
        };
        ws.onclose = (event) => {
          vigil.connected = false;
          if (vigil.ws !== ws) return;
          // A refused upgrade looks like any failure: ask the REST API whether a token is missing.
          if (!opened) api('/api/v1/overview').catch(() => {});
          const delay = Math.round(vigil.backoff * (0.75 + Math.random() * 0.5));
          vigil.backoff = Math.min(vigil.backoff * 2, 30000);
          setConnection('reconnecting', 'retry in ' + Math.round(delay / 1000) + ' s');
          setTimeout(connect, delay);
        };
      }

      function askForToken() {
        $('token-form').classList.remove('hidden');
      }
      $('token-form').addEventListener('submit', (event) => {
        event.preventDefault();
        vigil.token = $('token-input').value.trim();
        localStorage.setItem('vigil.token', vigil.token);
        $('token-form').classList.add('hidden');
        if (vigil.ws) vigil.ws.close();
      });

      setInterval(() => {
        for (const el of document.querySelectorAll('.age')) {
          el.textContent = span(Date.now() / 1000 - Number(el.dataset.time)) + ' ago';
        }
        if (vigil.connected && Date.now() - vigil.lastMessage > STALE_AFTER_MS) {
          setConnection('stale', 'no message for ' + span((Date.now() - vigil.lastMessage) / 1000));
        } else if (vigil.connected && $('conn-status').textContent === 'stale') {
          setConnection('live', '');
        }
      }, 1000);

      // MARK: selection and details
      document.addEventListener('click', (event) => {
        const kindCard = event.target.closest('.cards .card');
        if (kindCard) { const section = $('section-' + kindCard.dataset.kind); if (section) section.scrollIntoView({ behavior: 'smooth' }); return; }
        const el = event.target.closest('[data-target]');
        if (!el) return;
        vigil.selected = el.dataset.target;
        for (const kind of KINDS) dirty.add(kind);
        render();
        if ($('chart-target').value !== vigil.selected) {
          $('chart-target').value = vigil.selected;
          loadCharts();
        }
      });

      // MARK: charts
      function api(path) {
        const headers = vigil.token ? { Authorization: 'Bearer ' + vigil.token } : {};
        return fetch(path, { headers }).then((response) => {
          if (response.status === 401) askForToken();
          if (!response.ok) throw new Error(path + ': ' + response.status);
          return response.json();
        });
      }

      function refreshTargetChoices() {
        const select = $('chart-target');
        const keys = Array.from(vigil.targets.keys()).sort((a, b) => {
          const ka = KINDS.indexOf(a.split('/')[0]), kb = KINDS.indexOf(b.split('/')[0]);
          return ka !== kb ? kb - ka : a.localeCompare(b);
        });
        const current = select.value;
        const existing = Array.from(select.options).map((o) => o.value);
        if (existing.join('\n') === keys.join('\n')) return;
        select.innerHTML = keys.map((k) => '<option value="' + esc(k) + '">' + esc(k) + '</option>').join('');
        if (keys.includes(current)) select.value = current;
        if (!vigil.chartTarget && keys.length) { select.value = keys[0]; loadCharts(); }
      }

      function seriesName(key, prefix) { return key.slice(prefix.length); }
      function metricOf(name) { const brace = name.indexOf('{'); return brace < 0 ? name : name.slice(0, brace); }
      function formatter(metric) {
        if (metric.endsWith('_ratio')) return (v) => (v * 100).toFixed(1) + ' %';
        if (metric.endsWith('bits_per_second')) return bits;
        if (metric.endsWith('bytes_per_second')) return bytesRate;
        if (metric.endsWith('_seconds')) return (v) => (v * 1000).toFixed(1) + ' ms';
        if (metric.endsWith('_bytes')) return (v) => scaled(v, 'B', 1024);
        return (v) => (Math.abs(v) >= 10000 ? scaled(v, '', 1000) : Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2));
      }
      function timeLabel(ms, span) {
        const d = new Date(ms);
        if (span > 86400) return d.toLocaleDateString([], { month: 'short', day: 'numeric' }) + ' ' + d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
        if (span < 600) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
        return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
      }

      function destroyCharts() {
        for (const c of vigil.charts) if (c.chart) c.chart.destroy();
        vigil.charts = [];
        $('charts').innerHTML = '';
      }

      let chartRequest = 0;
      function loadCharts() {
        const k = $('chart-target').value;
        if (!k) return;
        vigil.chartTarget = k;
        const range = Number($('chart-range').value);
        const request = ++chartRequest;
        const prefix = k + '/';
        api('/api/v1/series?prefix=' + encodeURIComponent(prefix)).then((keys) => {
          const names = keys.map((x) => seriesName(x, prefix));
          names.sort((a, b) => {
            const ia = PREFERRED.indexOf(metricOf(a)), ib = PREFERRED.indexOf(metricOf(b));
            return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
          });
          const chosen = names.slice(0, 10);
          const to = Date.now() / 1000, from = to - range;
          return Promise.all(chosen.map((name) => api('/api/v1/history?series=' + encodeURIComponent(prefix + name) +
            '&from=' + from.toFixed(0) + '&to=' + to.toFixed(0)).then((h) => ({ name, points: h.points }))));
        }).then((fetched) => {
          // Flat-zero series (idle interfaces) go last; at most six charts.
          const flat = (s) => s.points.every((p) => p[1] === 0);
          const series = fetched.filter((s) => !flat(s)).concat(fetched.filter(flat)).slice(0, 6);
          if (request !== chartRequest) return;
          destroyCharts();
          const noChart = typeof window.Chart === 'undefined';
          $('chart-note').textContent = series.length === 0 ? 'No history for ' + k + '.' :
            noChart ? 'Chart.js is not installed (libjs-chart.js); showing plain lines.' : '';
          for (const s of series) drawChart(s.name, s.points, range, noChart);
        }).catch((error) => { $('chart-note').textContent = 'Could not load history: ' + error.message; });
      }

      function drawChart(name, points, range, plain) {
        const box = document.createElement('div');
        box.className = 'chart';
        box.dataset.series = name;
        box.dataset.points = String(points.length);
        const fmt = formatter(metricOf(name));
        const last = points.length ? fmt(points[points.length - 1][1]) : '—';
        box.innerHTML = '<h4>' + esc(name) + ' <span class="muted">' + esc(last) + '</span></h4><div class="plot"></div>';
        $('charts').appendChild(box);
        const plot = box.querySelector('.plot');
        const entry = { name, box, chart: null, points: points.map((p) => ({ x: p[0] * 1000, y: p[1] })) };
        const span = points.length > 1 ? points[points.length - 1][0] - points[0][0] : range;
        if (plain) {
          drawSVG(plot, entry.points);
        } else {
          const canvas = document.createElement('canvas');
          plot.appendChild(canvas);
          entry.chart = new window.Chart(canvas, {
            type: 'line',
            data: { datasets: [{ label: name, data: entry.points, borderWidth: 1.5, pointRadius: 0, tension: 0.2,
              borderColor: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2563eb' }] },
            options: {
              animation: false, parsing: false, responsive: true, maintainAspectRatio: false,
              plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => fmt(c.parsed.y), title: (c) => new Date(c[0].parsed.x).toLocaleString() } } },
              scales: {
                x: { type: 'linear', ticks: { maxTicksLimit: 5, callback: (v) => timeLabel(v, span) } },
                y: { ticks: { maxTicksLimit: 5, callback: (v) => fmt(v) } }
              }
            }
          });
        }
        vigil.charts.push(entry);
        vigil.chartsRendered++;
        box.dataset.rendered = 'true';
      }

      function drawSVG(plot, points) {
        if (points.length < 2) { plot.innerHTML = '<p class="muted">not enough points yet</p>'; return; }
        const xs = points.map((p) => p.x), ys = points.map((p) => p.y);
        const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
        const w = 600, h = 190;
        const coords = points.map((p) => ((p.x - x0) / ((x1 - x0) || 1) * w).toFixed(1) + ',' +
          (h - 5 - (p.y - y0) / ((y1 - y0) || 1) * (h - 10)).toFixed(1)).join(' ');
        plot.innerHTML = '<svg viewBox="0 0 ' + w + ' ' + h + '" preserveAspectRatio="none"><polyline points="' + coords + '"/></svg>';
      }

      function extendCharts(s) {
        for (const entry of vigil.charts) {
          const v = s.values ? s.values[entry.name] : undefined;
          if (!isNum(v)) continue;
          const point = { x: s.updatedAt * 1000, y: v };
          const lastPoint = entry.points[entry.points.length - 1];
          if (lastPoint && lastPoint.x >= point.x) continue;
          entry.points.push(point);
          if (entry.chart) entry.chart.update('none'); else drawSVG(entry.box.querySelector('.plot'), entry.points);
        }
      }

      $('chart-target').addEventListener('change', loadCharts);
      $('chart-range').addEventListener('change', loadCharts);
      $('chart-refresh').addEventListener('click', loadCharts);
      setInterval(() => { if (vigil.chartTarget && document.visibilityState === 'visible') loadCharts(); }, 60000);

      renderAll();
      connect();
    })();
    """#
}
