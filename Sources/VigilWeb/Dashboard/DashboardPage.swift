//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The dashboard page served at `/`: markup only; the style is ``css`` and the behaviour
/// ``script`` (DashboardPage+Script.swift).
///
/// The page loads the current state over the WebSocket snapshot (`/api/v1/live`), applies each
/// change as it arrives, and fetches history from `/api/v1/history` for the charts. It reconnects
/// with backoff and marks itself stale when no message (not even a heartbeat) has arrived for a
/// while.
enum DashboardPage {
    static func html(version: String) -> String {
        let version = version.filter { $0.isLetter || $0.isNumber || ".-+_".contains($0) }
        return #"""
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Vigil</title>
        <link rel="stylesheet" href="/assets/dashboard.css?v=\#(version)">
        </head>
        <body>
        <header class="top">
          <h1>Vigil <small>\#(version)</small></h1>
          <div class="conn">
            <span id="conn-status" class="badge connecting" title="WebSocket connection">connecting</span>
            <span id="conn-detail" class="muted"></span>
          </div>
        </header>
        <form id="token-form" class="card hidden">
          <label>This Vigil needs an API token: <input id="token-input" type="password" autocomplete="current-password"></label>
          <button type="submit">Use token</button>
        </form>
        <main>
          <section id="overview" class="cards" aria-label="Overview"></section>

          <section class="card" id="section-gateway">
            <h2>Gateways</h2>
            <div class="scroll"><table id="gateways-table"><thead><tr>
              <th>Name</th><th>Status</th><th>Online</th><th class="num">Sessions</th><th>Role</th><th>Failover</th><th>Last seen</th>
            </tr></thead><tbody></tbody></table></div>
          </section>

          <section class="card" id="section-device">
            <h2>Devices</h2>
            <div class="scroll"><table id="devices-table"><thead><tr>
              <th>Name</th><th>Status</th><th>State</th><th>Last contact</th><th class="num">Hellos</th><th class="num">Timeout</th>
            </tr></thead><tbody></tbody></table></div>
          </section>

          <section class="card" id="section-agent">
            <h2>Agents</h2>
            <div class="scroll"><table id="agents-table"><thead><tr>
              <th>Name</th><th>Status</th><th>State</th><th class="num">PID</th><th class="num">Restarts</th><th>Last start</th><th>Last contact</th>
            </tr></thead><tbody></tbody></table></div>
          </section>

          <section class="card" id="section-stream">
            <h2>Streams</h2>
            <h3>MediaMTX paths</h3>
            <div class="scroll"><table id="streams-table"><thead><tr>
              <th>Path</th><th>Status</th><th>Source</th><th class="num">Bitrate in</th><th class="num">Readers</th><th class="num">SRT RTT</th><th>Updated</th>
            </tr></thead><tbody></tbody></table></div>
            <h3>Cameras per site</h3>
            <div id="cameras"></div>
          </section>

          <section class="card" id="section-host">
            <h2>Hosts</h2>
            <div class="scroll"><table id="hosts-table"><thead><tr>
              <th>Name</th><th>Status</th><th class="num">CPU</th><th class="num">Memory</th><th class="num">Load</th><th class="num">Net in</th><th class="num">Net out</th>
            </tr></thead><tbody></tbody></table></div>
          </section>

          <section class="card" id="section-history">
            <h2>History</h2>
            <div class="controls">
              <label>Target <select id="chart-target"></select></label>
              <label>Range <select id="chart-range">
                <option value="900">15 min</option><option value="3600" selected>1 hour</option>
                <option value="21600">6 hours</option><option value="86400">24 hours</option><option value="604800">7 days</option>
              </select></label>
              <button id="chart-refresh" type="button">Refresh</button>
            </div>
            <p id="chart-note" class="muted"></p>
            <div id="charts" class="charts"></div>
          </section>

          <section class="card" id="section-details">
            <h2>Details <small id="details-title" class="muted">click a row</small></h2>
            <div class="scroll"><table id="details-table"><tbody></tbody></table></div>
          </section>

          <section class="card" id="section-events">
            <h2>Events</h2>
            <div class="scroll"><table id="events-table"><thead><tr>
              <th>Time</th><th>Severity</th><th>Target</th><th>Event</th>
            </tr></thead><tbody></tbody></table></div>
          </section>
        </main>
        <footer class="muted">Read-only view. API: <a href="/api/v1/overview">/api/v1</a> · <a href="/metrics">/metrics</a></footer>
        <script src="/assets/chart.js" onerror="window.vigilNoChartJS = true"></script>
        <script src="/assets/dashboard.js?v=\#(version)"></script>
        </body>
        </html>
        """#
    }
}
