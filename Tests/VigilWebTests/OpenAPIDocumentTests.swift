//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import Foundation
import Hummingbird
import HummingbirdTesting
import Testing
import VigilCore

@testable import VigilWeb

/// A reader for the plain subset of YAML that docs/openapi.yaml is written in: block mappings and
/// sequences, one-line plain or quoted scalars, flow lists and maps of scalars, folded (`>`) and
/// literal (`|`) blocks, comments on their own lines. Anything else is an error, so the document
/// stays in a form every YAML and JSON tool reads the same way. Scalars stay strings.
struct PlainYAML {
    struct Failure: Error, CustomStringConvertible {
        var line: Int
        var reason: String
        var description: String { "line \(line): \(reason)" }
    }

    private var lines: [(number: Int, indent: Int, text: Substring)] = []
    private var position = 0

    static func parse(_ text: String) throws -> Any {
        var reader = PlainYAML()
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indent = line.prefix(while: { $0 == " " }).count
            let content = line.dropFirst(indent)
            if content.isEmpty || content.hasPrefix("#") { continue }
            if content.contains("\t") { throw Failure(line: index + 1, reason: "tab") }
            reader.lines.append((index + 1, indent, content))
        }
        let value = try reader.block(indent: 0)
        if reader.position < reader.lines.count { throw Failure(line: reader.lines[reader.position].number, reason: "unexpected indentation") }
        return value
    }

    private mutating func block(indent: Int) throws -> Any {
        guard position < lines.count, lines[position].indent == indent else {
            throw Failure(line: position < lines.count ? lines[position].number : 0, reason: "expected a block at indent \(indent)")
        }
        if lines[position].text.hasPrefix("- ") { return try sequence(indent: indent) }
        return try mapping(indent: indent)
    }

    private mutating func mapping(indent: Int, first: Substring? = nil) throws -> [String: Any] {
        var result: [String: Any] = [:]
        var pending = first
        while true {
            let text: Substring
            let number: Int
            if let line = pending {
                text = line
                number = lines[position - 1].number
                pending = nil
            } else {
                guard position < lines.count, lines[position].indent == indent, !lines[position].text.hasPrefix("- ") else { break }
                text = lines[position].text
                number = lines[position].number
                position += 1
            }
            let (key, rest) = try Self.splitKey(text, line: number)
            guard result[key] == nil else { throw Failure(line: number, reason: "duplicate key '\(key)'") }
            if rest.isEmpty {
                guard position < lines.count,
                    lines[position].indent > indent
                        || (lines[position].indent == indent && lines[position].text.hasPrefix("- "))
                else { throw Failure(line: number, reason: "'\(key)' has no value") }
                result[key] = try block(indent: lines[position].indent)
            } else if rest == ">" || rest == "|" {
                var parts: [String] = []
                while position < lines.count, lines[position].indent > indent {
                    parts.append(String(lines[position].text))
                    position += 1
                }
                result[key] = parts.joined(separator: rest == ">" ? " " : "\n")
            } else {
                result[key] = try Self.scalarOrFlow(rest, line: number)
            }
        }
        return result
    }

    private mutating func sequence(indent: Int) throws -> [Any] {
        var result: [Any] = []
        while position < lines.count, lines[position].indent == indent, lines[position].text.hasPrefix("- ") {
            let item = lines[position].text.dropFirst(2)
            let number = lines[position].number
            position += 1
            if (try? Self.splitKey(item, line: number)) != nil, !item.hasPrefix("{"), !item.hasPrefix("'"), !item.hasPrefix("\"") {
                // A mapping that starts on the dash line and continues two columns in.
                let nested = indent + 2
                var first = try mapping(indent: -1, first: item)
                if position < lines.count, lines[position].indent == nested, !lines[position].text.hasPrefix("- ") {
                    for (key, value) in try mapping(indent: nested) {
                        guard first[key] == nil else { throw Failure(line: number, reason: "duplicate key '\(key)'") }
                        first[key] = value
                    }
                }
                result.append(first)
            } else {
                result.append(try Self.scalarOrFlow(item, line: number))
            }
        }
        return result
    }

    private static func splitKey(_ text: Substring, line: Int) throws -> (String, Substring) {
        if text.hasPrefix("'") || text.hasPrefix("\"") {
            let (key, rest) = try quoted(text, line: line)
            guard rest.hasPrefix(":") else { throw Failure(line: line, reason: "expected ':' after a quoted key") }
            return (key, rest.dropFirst().drop(while: { $0 == " " }))
        }
        if let range = text.range(of: ": ") {
            return (String(text[..<range.lowerBound]), text[range.upperBound...].drop(while: { $0 == " " }))
        }
        guard text.hasSuffix(":") else { throw Failure(line: line, reason: "not a 'key: value' line: \(text)") }
        return (String(text.dropLast()), "")
    }

    private static func quoted(_ text: Substring, line: Int) throws -> (String, Substring) {
        let quote = text.first!
        var result = ""
        var index = text.index(after: text.startIndex)
        while index < text.endIndex {
            let character = text[index]
            index = text.index(after: index)
            if character == quote {
                if quote == "'", index < text.endIndex, text[index] == "'" {
                    result.append("'")
                    index = text.index(after: index)
                    continue
                }
                return (result, text[index...])
            }
            if quote == "\"", character == "\\", index < text.endIndex {
                let escaped = text[index]
                index = text.index(after: index)
                switch escaped {
                case "n": result.append("\n")
                case "\"", "\\", "/": result.append(escaped)
                default: throw Failure(line: line, reason: "unsupported escape \\\(escaped)")
                }
                continue
            }
            result.append(character)
        }
        throw Failure(line: line, reason: "unterminated quote")
    }

    private static func scalarOrFlow(_ text: Substring, line: Int) throws -> Any {
        if text.hasPrefix("[") || text.hasPrefix("{") {
            guard text.hasSuffix(text.hasPrefix("[") ? "]" : "}") else { throw Failure(line: line, reason: "flow collection over several lines") }
            let inner = text.dropFirst().dropLast().trimmingCharacters(in: .whitespaces)
            let items = inner.isEmpty ? [] : try splitFlow(Substring(inner), line: line)
            if text.hasPrefix("[") { return try items.map { try scalar($0, line: line) } }
            var map: [String: Any] = [:]
            for item in items {
                let (key, rest) = try splitKey(item, line: line)
                map[key] = rest.isEmpty ? "" : try scalarOrFlow(rest, line: line)
            }
            return map
        }
        return try scalar(text, line: line)
    }

    /// Splits flow items at commas outside quotes and brackets.
    private static func splitFlow(_ text: Substring, line: Int) throws -> [Substring] {
        var items: [Substring] = []
        var depth = 0
        var quote: Character?
        var start = text.startIndex
        for index in text.indices {
            let character = text[index]
            if let open = quote {
                if character == open { quote = nil }
            } else if character == "'" || character == "\"" {
                quote = character
            } else if character == "[" || character == "{" {
                depth += 1
            } else if character == "]" || character == "}" {
                depth -= 1
            } else if character == ",", depth == 0 {
                items.append(Substring(text[start..<index].trimmingCharacters(in: .whitespaces)))
                start = text.index(after: index)
            }
        }
        items.append(Substring(text[start...].trimmingCharacters(in: .whitespaces)))
        return items
    }

    private static func scalar(_ text: Substring, line: Int) throws -> String {
        if text.hasPrefix("'") || text.hasPrefix("\"") {
            let (value, rest) = try quoted(text, line: line)
            guard rest.trimmingCharacters(in: .whitespaces).isEmpty else { throw Failure(line: line, reason: "text after a quoted scalar") }
            return value
        }
        // Plain scalars must not start with YAML indicators or contain a comment or a mapping.
        if let first = text.first, "&*!|>%@`#,[]{}".contains(first) { throw Failure(line: line, reason: "plain scalar starts with '\(first)'") }
        if text.contains(" #") || text.contains(": ") { throw Failure(line: line, reason: "plain scalar with ' #' or ': ': quote it") }
        return String(text)
    }
}

@Suite("OpenAPI description")
struct OpenAPIDocumentTests {
    static var document: [String: Any] { (try? PlainYAML.parse(OpenAPIDocument.yaml) as? [String: Any]) ?? [:] }

    var app: some ApplicationProtocol {
        Application(router: router)
    }

    var router: Router<BasicRequestContext> {
        buildRouter(
            WebDependencies(
                hub: Hub(stores: MemoryStore().stores, clock: ManualClock(wallClockSeconds: 2000)),
                exporters: [],
                readiness: Readiness(),
                version: "1",
                configuration: WebConfiguration()
            )
        )
    }

    @Test("The document parses and is OpenAPI 3.1")
    func parses() throws {
        let document = try #require(try PlainYAML.parse(OpenAPIDocument.yaml) as? [String: Any])
        #expect((document["openapi"] as? String)?.hasPrefix("3.1.") == true)
        #expect((document["info"] as? [String: Any])?["title"] as? String == "Vigil")
        #expect(JSONSerialization.isValidJSONObject(document), "the document is JSON-compatible")
    }

    @Test("The layout scan used by the route check agrees with the parsed document")
    func scanMatchesParse() throws {
        let paths = try #require(Self.document["paths"] as? [String: [String: Any]])
        var parsed: Set<String> = []
        for (path, item) in paths {
            for method in item.keys { parsed.insert("\(method.uppercased()) \(path)") }
        }
        #expect(parsed == OpenAPIDocument.operations)
        #expect(parsed.count >= 20)
    }

    @Test("Every route the router registers is described (the announce, alert and cluster routes are checked in VigilAppTests)")
    func everyRoute() {
        let registered = Set(router.routes.map { "\($0.method) \(OpenAPIDocument.templatedPath($0.path.description))" })
        #expect(registered.contains("GET /api/v1/events"))
        #expect(registered.contains("GET /api/v1/devices/{name}"))
        #expect(registered.subtracting(OpenAPIDocument.operations).isEmpty, "not described: \(registered.subtracting(OpenAPIDocument.operations))")
        let elsewhere = [
            "POST /v1/announce/", "POST /api/v1/announcements/", "GET /api/v1/alerts", "GET /api/v1/silences", "POST /api/v1/silences",
            "DELETE /api/v1/silences/", "GET /api/v1/cluster",
        ]
        let described = OpenAPIDocument.operations.filter { operation in !elsewhere.contains { operation.hasPrefix($0) } }
        #expect(described.subtracting(registered).isEmpty, "described but not registered: \(described.subtracting(registered))")
    }

    @Test("Every $ref points into the document")
    func references() throws {
        var refs: [String] = []
        func collect(_ value: Any) {
            if let map = value as? [String: Any] {
                for (key, item) in map {
                    if key == "$ref", let ref = item as? String { refs.append(ref) } else { collect(item) }
                }
            } else if let list = value as? [Any] {
                list.forEach(collect)
            }
        }
        collect(Self.document)
        #expect(refs.count > 20)
        for ref in refs {
            var node: Any? = Self.document
            for part in ref.dropFirst(2).split(separator: "/") { node = (node as? [String: Any])?[String(part)] }
            #expect(node != nil, "\(ref) does not resolve")
        }
    }

    @Test("GET /api/v1/openapi.yaml serves the document")
    func served() async throws {
        try await app.test(.router) { client in
            try await client.execute(uri: "/api/v1/openapi.yaml", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.headers[.contentType] == OpenAPIDocument.contentType)
                #expect(String(buffer: response.body) == OpenAPIDocument.yaml)
            }
        }
        let onDisk = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("docs/openapi.yaml")
        #expect(try String(contentsOf: onDisk, encoding: .utf8) == OpenAPIDocument.yaml, "the binary carries docs/openapi.yaml as it is")
    }

    @Test(
        "The subset reader refuses what it does not understand",
        arguments: [
            "a: b\n  c: d", "a:\n", "a: [b,\n c]", "a: *ref", "a: b # comment", "a: 'open", "a: b\na: c",
        ]
    )
    func readerRefuses(text: String) {
        #expect(throws: PlainYAML.Failure.self) { try PlainYAML.parse(text) }
    }
}
