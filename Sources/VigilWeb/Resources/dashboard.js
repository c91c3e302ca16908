//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

// Vigil's dashboard: plain JavaScript without a build step, compiled into the binary (see
// DashboardRoutes.swift).
//
// - One WebSocket to /api/v1/live: the snapshot fills every table, then each `state` message
//   replaces one target and each `event` message is prepended to the log. On close it reconnects
//   with exponential backoff (1 s doubling to 30 s, with jitter).
// - "stale": the page dims and says so when the socket is down or no message, not even a
//   heartbeat, has arrived for 25 s.
// - Tables read the attributes and samples the sources set through the names in
//   window.VIGIL_NAMES (/assets/names.js, rendered from VigilCore's AttributeName and SampleName):
//   `A.lastSeen`, never a string literal, so a renamed attribute cannot go unnoticed. Anything else
//   is visible in the details panel as key/value pairs.
// - Charts: /api/v1/series and /api/v1/history for the chosen target and range, drawn with Chart.js
//   when /assets/chart.js loaded, else as a plain SVG line. Axes are in the unit of the series,
//   read from the name's suffix (_bytes, _bytes_per_second, _seconds, _ratio). Live updates of the
//   chosen target extend the charts.
// - window.vigil exposes the page state (for the browser test and curious operators).
(function () {
  'use strict';
  const NAMES = window.VIGIL_NAMES || { attributes: {}, samples: {} };
  const A = NAMES.attributes;
  const S = NAMES.samples;
  const KINDS = ['gateway', 'device', 'agent', 'stream', 'host'];
  const STALE_AFTER_MS = 25000;
  const PREFERRED = [S.cpuUsageRatio, S.memoryUsedRatio, S.sessions, S.inboundBytesPerSecond, S.srtRTTSeconds,
    S.readers, S.outboundBytesPerSecond, S.networkReceiveBytesPerSecond, S.networkTransmitBytesPerSecond,
    S.load1, S.fps, S.up];
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
  // At most `digits` (default three) significant digits and no trailing zeros: 1.2, 950, 0.05.
  function short(v, digits) { return String(Number(v.toPrecision(digits || 3))); }
  // A value with an SI prefix (powers of 1000, so Chart.js's round tick values stay round).
  function scaled(v, unit, digits) {
    if (!isNum(v)) return '—';
    const prefixes = ['', 'k', 'M', 'G', 'T', 'P'];
    let i = 0;
    while (Math.abs(v) >= 1000 && i < prefixes.length - 1) { v /= 1000; i++; }
    return short(v, digits) + ' ' + prefixes[i] + unit;
  }
  function bits(v, digits) { return scaled(v, 'bit/s', digits); }
  function bytes(v, digits) { return scaled(v, 'B', digits); }
  function bytesRate(v, digits) { return scaled(v, 'B/s', digits); }
  function bitsFromBytes(v) { return isNum(v) ? bits(v * 8) : '—'; }
  function seconds(v, digits) {
    if (!isNum(v)) return '—';
    const a = Math.abs(v);
    if (a === 0) return '0 s';
    if (a < 0.001) return short(v * 1e6, digits) + ' µs';
    if (a < 1) return short(v * 1000, digits) + ' ms';
    if (a < 120) return short(v, digits) + ' s';
    if (a < 7200) return short(v / 60, digits) + ' min';
    if (a < 172800) return short(v / 3600, digits) + ' h';
    return short(v / 86400, digits) + ' d';
  }
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
  // The gateway's `failover` attribute in words: "failed over to gxy12 (2 min ago)", "standby #1".
  function failoverText(f) {
    if (!f || typeof f !== 'object') return '—';
    const since = isNum(f[A.since]) ? ' (' + ago(f[A.since]) + ')' : '';
    switch (f[A.state]) {
      case 'failed_over': return 'failed over to ' + esc(f[A.failoverServer]) + since;
      case 'distributed': return 'distributed to ' + text(f[A.failoverServers]) + since;
      case 'pending': {
        const left = f[A.deadline] - Date.now() / 1000;
        return 'offline, fails over' + (isNum(left) && left >= 0 && left < 86400 ? ' in ' + span(left) : ' soon');
      }
      case 'failed': return 'offline, no failover possible';
      case 'serving': return 'serving ' + esc(f[A.failedServer]);
      case 'standby': return 'standby' + (isNum(f[A.poolPosition]) ? ' #' + f[A.poolPosition] : '');
      default: return text(f);
    }
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
        esc(s.target.name), badge(s.status), yesNo(attr(s, A.online)),
        numCell(num(attr(s, A.sessions) !== undefined && attr(s, A.sessions) !== null ? attr(s, A.sessions) : val(s, S.sessions))),
        text(attr(s, A.role)), failoverText(attr(s, A.failover)), ago(attr(s, A.lastSeen))
      ])), 7);
    },
    device() {
      fill('devices-table', statesOf('device').map((s) => row(s, [
        esc(s.target.name), badge(s.status), text(attr(s, A.state)),
        ago(attr(s, A.lastContact) !== undefined ? attr(s, A.lastContact) : val(s, S.lastSeenSeconds)),
        numCell(num(attr(s, A.helloCount))), numCell(isNum(attr(s, A.watchTimeout)) ? span(attr(s, A.watchTimeout)) : '—')
      ])), 6);
    },
    agent() {
      fill('agents-table', statesOf('agent').map((s) => row(s, [
        esc(s.target.name), badge(s.status), text(attr(s, A.state)), numCell(num(attr(s, A.pid))),
        numCell(num(attr(s, A.restarts) !== undefined ? attr(s, A.restarts) : val(s, S.restartsTotal))),
        ago(attr(s, A.lastStart)), ago(attr(s, A.lastContact))
      ])), 7);
    },
    stream() {
      const all = statesOf('stream');
      const cameras = all.filter((s) => attr(s, A.source) === 'visionaire');
      const paths = all.filter((s) => attr(s, A.source) !== 'visionaire');
      fill('streams-table', paths.map((s) => {
        const srt = attr(s, A.srt) || {};
        let rtt = isNum(srt[A.srtRTTMilliseconds]) ? srt[A.srtRTTMilliseconds] : attr(s, A.rttP50Milliseconds);
        if (!isNum(rtt) && isNum(val(s, S.srtRTTSeconds))) rtt = val(s, S.srtRTTSeconds) * 1000;
        // The sources count bytes; the column shows the bitrate as video people read it.
        const rate = isNum(val(s, S.inboundBytesPerSecond)) ? val(s, S.inboundBytesPerSecond) : attr(s, A.inboundBytesPerSecond10s);
        const instance = attr(s, A.type) === 'instance';
        const source = instance ? 'instance ' + (attr(s, A.version) || '') : (attr(s, A.sourceType) || attr(s, A.source) || '');
        return row(s, [
          esc(s.target.name), badge(s.status), esc(source),
          numCell(instance ? num(attr(s, A.pathsOnline)) + ' / ' + num(attr(s, A.paths)) + ' paths' : bitsFromBytes(rate)),
          numCell(num(attr(s, A.readers) !== undefined ? attr(s, A.readers) : val(s, S.readers))),
          numCell(isNum(rtt) ? rtt.toFixed(1) + ' ms' : '—'), ago(s.updatedAt)
        ]);
      }), 7);
      const sites = new Map();
      for (const s of cameras) {
        const site = attr(s, A.sourceHost) || 'cameras';
        if (!sites.has(site)) sites.set(site, []);
        sites.get(site).push(s);
      }
      const html = Array.from(sites.entries()).sort((a, b) => a[0].localeCompare(b[0])).map(([site, list]) => {
        const up = list.filter((s) => s.status === 'up').length;
        return '<div class="site"><h4>' + esc(site) + ' <span class="muted">' + up + ' / ' + list.length + ' up</span></h4><div class="cams">' +
          list.map((s) => '<span class="cam ' + esc(s.status) + '" data-target="' + esc(keyOf(s.target)) + '" data-status="' + esc(s.status) + '">' +
            '<span class="dot ' + esc(s.status) + '"></span>' + esc(attr(s, A.streamName) || s.target.name) + ' ' +
            (s.status === 'up' ? 'UP' : 'DOWN') + '</span>').join('') + '</div></div>';
      }).join('');
      $('cameras').innerHTML = html || '<p class="muted">none</p>';
    },
    host() {
      fill('hosts-table', statesOf('host').map((s) => row(s, [
        esc(s.target.name), badge(s.status), numCell(pct(val(s, S.cpuUsageRatio))), numCell(pct(val(s, S.memoryUsedRatio))),
        numCell(num(val(s, S.load1), 2)), numCell(bytesRate(sumValues(s, S.networkReceiveBytesPerSecond))),
        numCell(bytesRate(sumValues(s, S.networkTransmitBytesPerSecond)))
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
  // The unit of a series from its name's suffix (Prometheus convention, as the sources name them).
  function formatter(metric) {
    if (metric.endsWith('_ratio')) return (v, digits) => short(v * 100, digits) + ' %';
    if (metric.endsWith('bits_per_second')) return bits;
    if (metric.endsWith('bytes_per_second')) return bytesRate;
    if (metric.endsWith('_seconds')) return seconds;
    if (metric.endsWith('_bytes')) return bytes;
    if (metric === S.fps) return (v, digits) => short(v, digits) + ' fps';
    return (v, digits) => scaled(v, '', digits).trim();
  }
  // Axis labels with as many digits as it takes to tell neighbouring ticks apart (72.31 GB, 72.32 GB).
  function tickLabel(fmt, value, ticks) {
    let digits = 3;
    while (digits < 10 && new Set(ticks.map((t) => fmt(t.value, digits))).size < ticks.length) digits++;
    return fmt(value, digits);
  }
  // Time-axis ticks on round local times (every 1 s, 5 s, …, 1 h, 6 h, 1 d), at most `count` of them.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  function timeStep(from, to, count) {
    const width = Math.max(1, (to - from) / 1000);
    return (TIME_STEPS.find((step) => width / step <= count) || 86400 * Math.ceil(width / count / 86400)) * 1000;
  }
  function timeTicks(from, to, count) {
    const step = timeStep(from, to, count);
    const zone = -new Date(from).getTimezoneOffset() * 60000;
    const ticks = [];
    for (let t = Math.ceil((from + zone) / step) * step - zone; t <= to && ticks.length < count + 1; t += step) ticks.push({ value: t });
    return ticks;
  }
  function timeLabel(ms, step) {
    const d = new Date(ms);
    if (step >= 86400000) return d.toLocaleDateString([], { month: 'short', day: 'numeric' });
    if (step < 60000) return d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', second: '2-digit' });
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
      for (const s of series) drawChart(s.name, s.points, noChart);
    }).catch((error) => { $('chart-note').textContent = 'Could not load history: ' + error.message; });
  }

  function drawChart(name, points, plain) {
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
    if (plain) {
      drawSVG(plot, entry.points);
    } else {
      const canvas = document.createElement('canvas');
      plot.appendChild(canvas);
      entry.chart = new window.Chart(canvas, {
        type: 'line',
        // tension 0: straight segments between samples, never a curve above or below the data.
        data: { datasets: [{ label: name, data: entry.points, borderWidth: 1.5, pointRadius: 0, tension: 0,
          borderColor: getComputedStyle(document.documentElement).getPropertyValue('--accent').trim() || '#2563eb' }] },
        options: {
          animation: false, parsing: false, responsive: true, maintainAspectRatio: false,
          plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => fmt(c.parsed.y), title: (c) => new Date(c[0].parsed.x).toLocaleString() } } },
          scales: {
            x: {
              type: 'linear',
              afterBuildTicks: (axis) => { axis.ticks = timeTicks(axis.min, axis.max, 4); },
              ticks: { maxRotation: 0, callback: (v, i, ticks) => timeLabel(v, ticks.length > 1 ? ticks[1].value - ticks[0].value : 60000) }
            },
            y: {
              // A flat series gets an axis 2 % of its value wide, not ±1 around 11912500.
              afterDataLimits: (axis) => {
                const room = Math.max(Math.abs(axis.min), Math.abs(axis.max)) * 0.01;
                if (axis.max - axis.min < 2 * room) {
                  const middle = (axis.max + axis.min) / 2;
                  axis.min = middle - room;
                  axis.max = middle + room;
                }
              },
              ticks: { maxTicksLimit: 5, callback: (v, i, ticks) => tickLabel(fmt, v, ticks) }
            }
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

  // MARK: alerts
  function renderAlerts(answer) {
    const alerts = (answer && answer.alerts) || [];
    const firing = alerts.filter((a) => a.state === 'firing').length;
    $('alerts-summary').textContent = alerts.length ? firing + ' firing, ' + (alerts.length - firing) + ' pending or resolved' : '';
    const body = document.querySelector('#alerts-table tbody');
    body.innerHTML = alerts.length ? alerts.map((a) => '<tr data-alert="' + esc(a.id) + '" data-target="' + esc(keyOf(a.target)) + '"><td>' +
      badge(a.state) + '</td><td class="sev-' + esc(a.severity) + '">' + esc(a.severity) + '</td><td>' + esc(a.rule) + '</td><td>' +
      esc(keyOf(a.target)) + '</td><td>' + esc(a.summary) + '</td><td>' + time(a.startsAt || a.activeSince) + '</td><td>' +
      esc(a.silencedBy || a.inhibitedBy || '') + '</td></tr>').join('')
      : '<tr><td class="empty" colspan="7">no alerts</td></tr>';
  }
  function loadAlerts() {
    if (document.visibilityState !== 'visible' && vigil.alertsLoaded) return;
    api('/api/v1/alerts').then((answer) => { vigil.alertsLoaded = true; renderAlerts(answer); })
      .catch((error) => { console.warn('vigil alerts:', error); });
  }
  setInterval(loadAlerts, 10000);

  $('chart-target').addEventListener('change', loadCharts);
  $('chart-range').addEventListener('change', loadCharts);
  $('chart-refresh').addEventListener('click', loadCharts);
  setInterval(() => { if (vigil.chartTarget && document.visibilityState === 'visible') loadCharts(); }, 60000);

  renderAll();
  connect();
  loadAlerts();
})();
