//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import Synchronization

/// The dashboard at `/` and its assets under `/assets/`.
///
/// The page, its style sheet and its script are files in `Sources/VigilWeb/Resources/` compiled into
/// the binary (``DashboardAssets``: one file to deploy, no build step); `/assets/names.js` is rendered
/// from VigilCore's attribute and sample names. Chart.js is read from disk, from Debian's libjs-chart.js
/// (``WebConfiguration/chartJSPath``), and cached; when it is missing `/assets/chart.js` answers 404
/// and the page works without charts.
struct DashboardRoutes: Sendable {
    let dependencies: WebDependencies

    func register(on router: Router<BasicRequestContext>) {
        let version = dependencies.version
        let page = ByteBuffer(string: DashboardAssets.page(version: version))
        let style = ByteBuffer(bytes: DashboardAssets.style)
        let script = ByteBuffer(bytes: DashboardAssets.script)
        let names = ByteBuffer(string: DashboardAssets.names)
        let chart = ChartJSFile(candidates: dependencies.configuration.chartJSCandidates)

        router.get("/") { _, _ in
            Self.asset(page, type: "text/html; charset=utf-8", cache: "no-cache")
        }
        router.get("/assets/dashboard.css") { _, _ in
            Self.asset(style, type: "text/css; charset=utf-8", cache: "no-cache")
        }
        router.get("/assets/dashboard.js") { _, _ in
            Self.asset(script, type: "text/javascript; charset=utf-8", cache: "no-cache")
        }
        router.get("/assets/names.js") { _, _ in
            Self.asset(names, type: "text/javascript; charset=utf-8", cache: "no-cache")
        }
        router.get("/assets/chart.js") { _, _ in
            guard let contents = chart.contents() else {
                throw APIError(.notFound, "Chart.js is not installed (apt-get install libjs-chart.js, or set [http] chartjs_path)")
            }
            return Self.asset(contents, type: "text/javascript; charset=utf-8", cache: "max-age=86400")
        }
    }

    private static func asset(_ body: ByteBuffer, type: String, cache: String) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: type, .cacheControl: cache],
            body: .init(byteBuffer: body)
        )
    }
}

/// Chart.js read from the first candidate file that exists, once.
final class ChartJSFile: Sendable {
    private let candidates: [String]
    private let cached = Mutex<ByteBuffer?>(nil)

    init(candidates: [String]) {
        self.candidates = candidates
    }

    /// The file's contents, or `nil` when no candidate exists (looked up again next time).
    func contents() -> ByteBuffer? {
        if let buffer = cached.withLock({ $0 }) { return buffer }
        for path in candidates {
            if let data = FileManager.default.contents(atPath: path) {
                let buffer = ByteBuffer(bytes: data)
                cached.withLock { $0 = buffer }
                return buffer
            }
        }
        return nil
    }
}
