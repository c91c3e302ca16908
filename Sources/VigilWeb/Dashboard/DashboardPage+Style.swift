//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

extension DashboardPage {
    /// The style sheet: light and dark schemes, cards that wrap, tables that scroll sideways on a
    /// phone.
    static let css = #"""
    :root {
      --bg: #f4f5f7; --card: #ffffff; --text: #1d2330; --muted: #6b7280; --line: #e3e6eb;
      --up: #16803c; --down: #c62828; --stale: #b26a00; --error: #8e24aa; --unknown: #6b7280; --accent: #2563eb;
      font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; font-size: 15px;
    }
    @media (prefers-color-scheme: dark) {
      :root { --bg: #12151b; --card: #1b2028; --text: #e6e9ef; --muted: #9aa3b2; --line: #2b323d;
              --up: #3fb96a; --down: #ef5350; --stale: #f0a030; --error: #ce93d8; --accent: #60a5fa; }
    }
    * { box-sizing: border-box; }
    body { margin: 0; background: var(--bg); color: var(--text); }
    body.stale main { opacity: 0.55; }
    header.top { display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between; gap: 8px;
                 padding: 10px 16px; background: var(--card); border-bottom: 1px solid var(--line); position: sticky; top: 0; z-index: 5; }
    h1 { font-size: 1.3rem; margin: 0; } h1 small { font-weight: normal; color: var(--muted); font-size: 0.8rem; }
    h2 { font-size: 1.05rem; margin: 0 0 8px; } h3 { font-size: 0.9rem; margin: 12px 0 6px; color: var(--muted); }
    main { padding: 12px; display: grid; gap: 12px; max-width: 1400px; margin: 0 auto; }
    footer { padding: 12px 16px 24px; text-align: center; font-size: 0.85rem; }
    a { color: var(--accent); }
    .muted { color: var(--muted); }
    .hidden { display: none !important; }
    .card { background: var(--card); border: 1px solid var(--line); border-radius: 10px; padding: 12px 14px; min-width: 0; }
    .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 10px; }
    .cards .card { cursor: pointer; }
    .cards .count { font-size: 1.8rem; font-weight: 600; }
    .cards .kind { text-transform: capitalize; color: var(--muted); }
    .cards .split { font-size: 0.85rem; display: flex; flex-wrap: wrap; gap: 6px; margin-top: 4px; }
    .scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
    table { border-collapse: collapse; width: 100%; font-size: 0.9rem; }
    th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); white-space: nowrap; }
    th { color: var(--muted); font-weight: 600; font-size: 0.8rem; }
    td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
    tbody tr { cursor: pointer; } tbody tr:hover { background: color-mix(in srgb, var(--accent) 8%, transparent); }
    tbody tr.selected { outline: 2px solid var(--accent); outline-offset: -2px; }
    tr.flash { animation: flash 1.2s ease-out; }
    @keyframes flash { from { background: color-mix(in srgb, var(--accent) 30%, transparent); } to { background: transparent; } }
    td.empty { color: var(--muted); font-style: italic; cursor: default; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-size: 0.78rem; font-weight: 600; color: #fff; background: var(--unknown); }
    .badge.up, .badge.live { background: var(--up); } .badge.down { background: var(--down); }
    .badge.stale, .badge.connecting, .badge.reconnecting { background: var(--stale); } .badge.error { background: var(--error); }
    .dot { display: inline-block; width: 8px; height: 8px; border-radius: 50%; margin-right: 4px; background: var(--unknown); }
    .dot.up { background: var(--up); } .dot.down { background: var(--down); } .dot.stale { background: var(--stale); } .dot.error { background: var(--error); }
    .conn { display: flex; align-items: center; gap: 8px; font-size: 0.85rem; }
    .site { margin-bottom: 10px; } .site h4 { margin: 6px 0; font-size: 0.9rem; }
    .cams { display: flex; flex-wrap: wrap; gap: 6px; }
    .cam { border: 1px solid var(--line); border-radius: 8px; padding: 4px 8px; font-size: 0.85rem; cursor: pointer; }
    .cam.up { border-color: var(--up); } .cam.down, .cam.error { border-color: var(--down); }
    .controls { display: flex; flex-wrap: wrap; gap: 10px; align-items: center; margin-bottom: 8px; }
    select, input, button { font: inherit; padding: 4px 8px; border-radius: 6px; border: 1px solid var(--line); background: var(--card); color: var(--text); max-width: 100%; }
    button { cursor: pointer; }
    .charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 12px; }
    .chart { position: relative; height: 220px; min-width: 0; }
    .chart h4 { margin: 0 0 4px; font-size: 0.85rem; font-weight: 600; }
    .chart .plot { position: relative; height: 190px; }
    .chart svg { width: 100%; height: 190px; }
    .chart svg polyline { fill: none; stroke: var(--accent); stroke-width: 1.5; }
    .sev-warning { color: var(--stale); font-weight: 600; } .sev-critical { color: var(--down); font-weight: 600; }
    #details-table td:first-child { color: var(--muted); width: 30%; }
    #details-table td { white-space: normal; word-break: break-word; }
    #token-form { margin: 12px; display: flex; flex-wrap: wrap; gap: 8px; align-items: center; }
    @media (max-width: 600px) {
      :root { font-size: 14px; }
      main { padding: 8px; gap: 8px; }
      th, td { padding: 4px 6px; }
      .cards { grid-template-columns: repeat(2, 1fr); }
      .charts { grid-template-columns: 1fr; }
    }
    """#
}
