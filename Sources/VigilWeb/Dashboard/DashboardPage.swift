//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The dashboard page served at `/`.
enum DashboardPage {
    static func html(version: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>Vigil</title></head>
        <body><h1>Vigil \(version)</h1>
        <p>Live dashboard: see <a href="/api/v1/overview">/api/v1/overview</a> and <a href="/metrics">/metrics</a>.</p>
        </body></html>
        """
    }
}
