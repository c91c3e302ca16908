//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

public import NIOCore

/// Writes ``XMLElement``s as XML text that ``XMPPStreamParser`` (and any XML parser) reads back
/// unchanged.
///
/// Text escapes `&`, `<` and `>`; attribute values (always single-quoted) also escape `'`, `"` and
/// tab, line feed and carriage return, which an XML parser would otherwise turn into spaces.
/// Characters XML cannot carry at all (most C0 controls, U+FFFE, U+FFFF) become U+FFFD.
public enum XMLSerializer {
    /// Serializes `element` as a string.
    ///
    /// - Parameters:
    ///   - element: The element to write.
    ///   - defaultNamespace: The default namespace in force where the element is written (for a
    ///     stanza, the stream's content namespace); `xmlns` is written only where it differs.
    public static func string(_ element: XMLElement, defaultNamespace: String? = nil) -> String {
        var output = ""
        write(element, defaultNamespace: defaultNamespace, into: &output)
        return output
    }

    /// Appends `element` to `buffer`; see ``string(_:defaultNamespace:)``.
    public static func write(_ element: XMLElement, defaultNamespace: String? = nil, to buffer: inout ByteBuffer) {
        buffer.writeString(string(element, defaultNamespace: defaultNamespace))
    }

    private static func write(_ element: XMLElement, defaultNamespace: String?, into output: inout String) {
        output += "<"
        output += element.name
        if element.namespace != defaultNamespace {
            output += " xmlns='"
            escape(element.namespace ?? "", attribute: true, into: &output)
            output += "'"
        }
        var prefixes: [String: String] = [:]
        for attribute in element.attributes {
            output += " "
            if let namespace = attribute.namespace {
                if namespace == XMPPNamespace.xml {
                    output += "xml:"
                } else {
                    let prefix: String
                    if let known = prefixes[namespace] {
                        prefix = known
                    } else {
                        prefix = "ns\(prefixes.count + 1)"
                        prefixes[namespace] = prefix
                        output += "xmlns:\(prefix)='"
                        escape(namespace, attribute: true, into: &output)
                        output += "' "
                    }
                    output += prefix + ":"
                }
            }
            output += attribute.name
            output += "='"
            escape(attribute.value, attribute: true, into: &output)
            output += "'"
        }
        if element.children.isEmpty {
            output += "/>"
            return
        }
        output += ">"
        for child in element.children {
            switch child {
            case .element(let child): write(child, defaultNamespace: element.namespace, into: &output)
            case .text(let text): escape(text, attribute: false, into: &output)
            }
        }
        output += "</"
        output += element.name
        output += ">"
    }

    /// `text` escaped for an attribute value in single or double quotes (or for text content).
    ///
    /// Whatever `text` holds, the result is well-formed XML character data: markup characters and
    /// quotes become references, tab, line feed and carriage return become character references
    /// (so they survive attribute-value normalisation), and characters XML cannot carry become
    /// U+FFFD.
    public static func escapedAttributeValue(_ text: String) -> String {
        var output = ""
        escape(text, attribute: true, into: &output)
        return output
    }

    /// Whether XML 1.0 can carry `scalar` at all (its `Char` production).
    public static func isXMLCharacter(_ scalar: Unicode.Scalar) -> Bool {
        XMPPStreamParser.isXMLCharacter(scalar.value)
    }

    /// Appends `text` with XML escaping.
    static func escape(_ text: String, attribute: Bool, into output: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": output += "&amp;"
            case "<": output += "&lt;"
            case ">": output += "&gt;"
            case "'" where attribute: output += "&apos;"
            case "\"" where attribute: output += "&quot;"
            case "\t" where attribute: output += "&#9;"
            case "\n" where attribute: output += "&#10;"
            case "\r": output += "&#13;"
            default:
                if XMPPStreamParser.isXMLCharacter(scalar.value) {
                    output.unicodeScalars.append(scalar)
                } else {
                    output += "\u{FFFD}"
                }
            }
        }
    }
}
