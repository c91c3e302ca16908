//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

/// The OpenAPI 3.1 description of the HTTP API, `docs/openapi.yaml`, compiled into the binary
/// (a SwiftPM `embedInCode` resource: one file to deploy) and served at `GET /api/v1/openapi.yaml`.
public enum OpenAPIDocument {
    /// The media type it is served with (RFC 9512).
    public static let contentType = "application/yaml; charset=utf-8"

    /// The document's text.
    public static let yaml = String(decoding: PackageResources.openapi_yaml, as: UTF8.self)

    /// Every operation under `paths:`, written `GET /api/v1/events`.
    ///
    /// Read from the document's layout (path keys indented two spaces, methods four), which the
    /// tests check against a real parse.
    public static var operations: Set<String> {
        let methods: Set<Substring> = ["get", "put", "post", "delete", "options", "head", "patch", "trace"]
        var result: Set<String> = []
        var inPaths = false
        var path: Substring?
        for line in yaml.split(separator: "\n", omittingEmptySubsequences: true) where !line.hasPrefix("#") {
            if !line.hasPrefix(" ") {
                inPaths = line == "paths:"
                continue
            }
            guard inPaths, line.hasSuffix(":") else { continue }
            let indent = line.prefix(while: { $0 == " " }).count
            let key = line.dropFirst(indent).dropLast()
            if indent == 2 {
                path = key
            } else if indent == 4, methods.contains(key), let path {
                result.insert("\(key.uppercased()) \(path)")
            }
        }
        return result
    }

    /// The OpenAPI form of a router path: a trailing catch-all `**` is the `{name}` parameter.
    ///
    /// - Parameter routerPath: A path as the router prints it (`/api/v1/devices/**`).
    /// - Returns: The templated path (`/api/v1/devices/{name}`).
    public static func templatedPath(_ routerPath: String) -> String {
        var path = routerPath.hasPrefix("/") ? routerPath : "/" + routerPath
        if path.hasSuffix("/**") { path = String(path.dropLast(2)) + "{name}" }
        return path
    }
}
