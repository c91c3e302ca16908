//===----------------------------------------------------------------------===//
//
// This source file is part of the Vigil open source project.
// SPDX-License-Identifier: Apache-2.0
//
//===----------------------------------------------------------------------===//

import VigilSASL

extension XMPPChannelHandler {
    /// The stream lifecycle of one connection, from the stream header to an established session:
    /// the XEP-0114 handshake for components, SASL and resource binding for clients.
    ///
    /// A plain value: each event returns the actions the handler must perform, so the negotiation
    /// can be tested without a channel.
    struct StateMachine: Sendable {
        enum Phase: Sendable, Equatable { case initial, secured, authenticated }

        /// Whether STARTTLS is used; the TLS settings themselves stay in the handler.
        enum TLSPolicy: Sendable, Equatable { case disabled, ifOffered, required }

        enum State: Sendable {
            case idle
            case awaitingStreamHeader(Phase)
            case awaitingHandshakeReply
            case awaitingFeatures(Phase)
            case awaitingTLSProceed
            case authenticatingPlain
            case authenticatingSCRAM(SCRAMClient)
            case binding(id: String, sessionRequired: Bool)
            case establishingSession(id: String, jid: String)
            /// `<enable/>` sent (XEP-0198); waiting for `<enabled/>` or `<failed/>`.
            case enablingStreamManagement(jid: String)
            case established
            case closed
        }

        enum Action: Sendable, Equatable {
            /// Writes raw XML to the server.
            case send(String)
            /// Resets the parser, then writes a new stream header.
            case restartStream(header: String)
            /// Puts the TLS handler in front of the connection (after `<proceed/>`); the following
            /// ``restartStream(header:)`` is written through it once its handshake is done.
            case startTLS
            /// Negotiation finished: stanzas flow from now on.
            case established(jid: String, streamID: String)
            /// A stanza for the connection's user (only once established).
            case deliver(XMLElement)
            /// XEP-0198 is on: from now on outbound stanzas are counted and acknowledged.
            case streamManagementEnabled
            /// The server asked (`<r/>`) how many stanzas the client has handled.
            case answerAckRequest
            /// The server has handled this many of the client's stanzas (`<a h='…'/>`, modulo 2^32).
            case acknowledged(UInt32)
            /// Closes the connection with this error.
            case fail(ErrorBox)
        }

        /// Wraps ``XMPPClientError`` so actions can be compared in tests by code and condition.
        struct ErrorBox: Sendable, Equatable {
            let error: XMPPClientError
            static func == (lhs: Self, rhs: Self) -> Bool {
                lhs.error.errorCode == rhs.error.errorCode && lhs.error.condition == rhs.error.condition
            }
        }

        let role: XMPPConnectionConfiguration.Role
        let sendInitialPresence: Bool
        /// Whether to enable XEP-0198 when the server offers it (client streams only).
        let streamManagement: Bool
        /// Whether the server offered XEP-0198 in its features after authentication.
        private(set) var streamManagementOffered = false
        let clientNonce: String
        let tlsPolicy: TLSPolicy
        private(set) var state = State.idle
        private(set) var streamID = ""

        /// Creates a state machine; `clientNonce` is the SCRAM nonce (tests pass a fixed one).
        init(
            role: XMPPConnectionConfiguration.Role,
            sendInitialPresence: Bool,
            clientNonce: String,
            tlsPolicy: TLSPolicy = .disabled,
            streamManagement: Bool = true
        ) {
            self.role = role
            self.sendInitialPresence = sendInitialPresence
            self.streamManagement = streamManagement
            self.clientNonce = clientNonce
            self.tlsPolicy = tlsPolicy
        }

        var namespace: String {
            if case .component = role { XMPPNamespace.componentAccept } else { XMPPNamespace.client }
        }

        var streamHeader: String {
            let target: String
            switch role {
            case .component(let domain, _): target = domain
            case .client(let domain, _, _, _): target = domain
            }
            let version = if case .client = role { " version='1.0'" } else { "" }
            var escaped = ""
            XMLSerializer.escape(target, attribute: true, into: &escaped)
            return "<?xml version='1.0'?><stream:stream xmlns='\(namespace)' xmlns:stream='\(XMPPNamespace.stream)' "
                + "to='\(escaped)'\(version) xml:lang='en'>"
        }

        /// The TCP connection is up: open the stream.
        mutating func start() -> Action {
            state = .awaitingStreamHeader(.initial)
            return .send(streamHeader)
        }

        mutating func streamOpened(_ header: XMLElement) -> [Action] {
            guard case .awaitingStreamHeader(let phase) = state else {
                return fail(XMPPClientError(.protocolError, message: "unexpected stream header"))
            }
            streamID = header[attribute: "id"] ?? ""
            switch role {
            case .component(_, let secret):
                guard !streamID.isEmpty else { return fail(XMPPClientError(.protocolError, message: "stream header without id")) }
                state = .awaitingHandshakeReply
                return [.send("<handshake>\(componentHandshakeDigest(streamID: streamID, secret: secret))</handshake>")]
            case .client:
                state = .awaitingFeatures(phase)
                return []
            }
        }

        mutating func streamClosed() -> [Action] {
            if case .closed = state { return [] }
            return fail(XMPPClientError(.connectionClosed, message: "the server closed the stream"))
        }

        mutating func received(_ element: XMLElement) -> [Action] {
            if element.name == "error", element.namespace == XMPPNamespace.stream {
                return streamError(element)
            }
            switch state {
            case .established:
                guard element.namespace == XMPPNamespace.streamManagement else { return [.deliver(element)] }
                return streamManagementElement(element)
            case .enablingStreamManagement(let jid):
                guard element.namespace == XMPPNamespace.streamManagement else { return [.deliver(element)] }
                state = .established
                switch element.name {
                case "enabled": return [.streamManagementEnabled, .established(jid: jid, streamID: streamID)]
                // Refused: the stream works without it, and delivery is confirmed by pings instead.
                case "failed": return [.established(jid: jid, streamID: streamID)]
                default: return fail(XMPPClientError(.protocolError, message: "unexpected <\(element.name)> while enabling stream management"))
                }
            case .awaitingHandshakeReply:
                guard element.name == "handshake" else { return unexpected(element) }
                state = .established
                return [.established(jid: domain, streamID: streamID)]
            case .awaitingFeatures(let phase):
                guard element.name == "features", element.namespace == XMPPNamespace.stream else { return unexpected(element) }
                return phase == .authenticated ? startBinding(element) : startAuthentication(element, phase: phase)
            case .awaitingTLSProceed:
                guard element.namespace == XMPPNamespace.tls else { return unexpected(element) }
                guard element.name == "proceed" else {
                    return fail(XMPPClientError(.tlsRequired, message: "the server refused STARTTLS"))
                }
                state = .awaitingStreamHeader(.secured)
                return [.startTLS, .restartStream(header: streamHeader)]
            case .authenticatingPlain, .authenticatingSCRAM:
                return authenticationStep(element)
            case .binding(let id, let sessionRequired):
                guard element.name == "iq", element[attribute: "id"] == id else { return unexpected(element) }
                guard element[attribute: "type"] == "result",
                    let jid = element.firstChild(named: "bind", namespace: XMPPNamespace.bind)?.firstChild(named: "jid")?.text,
                    !jid.isEmpty
                else {
                    return fail(XMPPClientError(.bindFailed, condition: Self.stanzaErrorCondition(element), stanza: element))
                }
                if sessionRequired {
                    state = .establishingSession(id: "session-1", jid: jid)
                    return [.send("<iq type='set' id='session-1'><session xmlns='\(XMPPNamespace.session)'/></iq>")]
                }
                return establishClient(jid: jid)
            case .establishingSession(let id, let jid):
                guard element.name == "iq", element[attribute: "id"] == id else { return unexpected(element) }
                guard element[attribute: "type"] == "result" else {
                    return fail(XMPPClientError(.bindFailed, message: "session establishment failed", stanza: element))
                }
                return establishClient(jid: jid)
            case .idle, .awaitingStreamHeader, .closed:
                return unexpected(element)
            }
        }

        // MARK: - Steps

        private var domain: String {
            switch role {
            case .component(let domain, _): domain
            case .client(let domain, _, _, _): domain
            }
        }

        private mutating func startAuthentication(_ features: XMLElement, phase: Phase) -> [Action] {
            guard case .client(_, let username, let password, _) = role else { return unexpected(features) }
            if phase == .initial, tlsPolicy != .disabled {
                if features.firstChild(named: "starttls", namespace: XMPPNamespace.tls) != nil {
                    state = .awaitingTLSProceed
                    return [.send("<starttls xmlns='\(XMPPNamespace.tls)'/>")]
                }
                if tlsPolicy == .required {
                    return fail(XMPPClientError(.tlsRequired, message: "the server does not offer STARTTLS"))
                }
            }
            let mechanisms = Set(
                features.firstChild(named: "mechanisms", namespace: XMPPNamespace.sasl)?.elements
                    .filter { $0.name == "mechanism" }.map(\.text) ?? []
            )
            let sasl = XMPPNamespace.sasl
            if mechanisms.contains("SCRAM-SHA-1") {
                let scram = SCRAMClient(hash: .sha1, username: username, password: password, clientNonce: clientNonce)
                state = .authenticatingSCRAM(scram)
                let payload = Base64.encode(Array(scram.clientFirstMessage.utf8))
                return [.send("<auth xmlns='\(sasl)' mechanism='SCRAM-SHA-1'>\(payload)</auth>")]
            }
            if mechanisms.contains("PLAIN") {
                state = .authenticatingPlain
                let payload = saslPlainResponse(username: username, password: password)
                return [.send("<auth xmlns='\(sasl)' mechanism='PLAIN'>\(payload)</auth>")]
            }
            if let tls = features.firstChild(named: "starttls", namespace: XMPPNamespace.tls), tls.firstChild(named: "required") != nil {
                return fail(XMPPClientError(.tlsRequired, message: "the server requires STARTTLS, which is disabled"))
            }
            return fail(XMPPClientError(.noSupportedMechanism, message: "offered: \(mechanisms.sorted().joined(separator: ", "))"))
        }

        private mutating func authenticationStep(_ element: XMLElement) -> [Action] {
            guard element.namespace == XMPPNamespace.sasl else { return unexpected(element) }
            switch element.name {
            case "failure":
                let condition = element.elements.first { $0.name != "text" }?.name
                let text = element.firstChild(named: "text")?.text
                return fail(XMPPClientError(.authenticationFailed, message: text, condition: condition))
            case "challenge":
                guard case .authenticatingSCRAM(var scram) = state,
                    let decoded = Base64.decode(element.text), let serverFirst = String(validating: decoded, as: UTF8.self)
                else {
                    return fail(XMPPClientError(.authenticationFailed, message: "unexpected SASL challenge"))
                }
                do {
                    let final = try scram.clientFinalMessage(serverFirst: serverFirst)
                    state = .authenticatingSCRAM(scram)
                    return [.send("<response xmlns='\(XMPPNamespace.sasl)'>\(Base64.encode(Array(final.utf8)))</response>")]
                } catch {
                    return fail(XMPPClientError(.authenticationFailed, message: error.description))
                }
            case "success":
                if case .authenticatingSCRAM(let scram) = state {
                    let serverFinal = Base64.decode(element.text).flatMap { String(validating: $0, as: UTF8.self) } ?? ""
                    guard scram.verify(serverFinal: serverFinal) else {
                        return fail(XMPPClientError(.authenticationFailed, message: "the server's SCRAM signature is wrong"))
                    }
                }
                state = .awaitingStreamHeader(.authenticated)
                return [.restartStream(header: streamHeader)]
            default:
                return unexpected(element)
            }
        }

        private mutating func startBinding(_ features: XMLElement) -> [Action] {
            guard case .client(_, _, _, let resource) = role, features.firstChild(named: "bind", namespace: XMPPNamespace.bind) != nil else {
                return fail(XMPPClientError(.bindFailed, message: "the server offers no resource binding"))
            }
            streamManagementOffered = features.firstChild(named: "sm", namespace: XMPPNamespace.streamManagement) != nil
            let session = features.firstChild(named: "session", namespace: XMPPNamespace.session)
            let sessionRequired = session != nil && session?.firstChild(named: "optional") == nil
            state = .binding(id: "bind-1", sessionRequired: sessionRequired)
            var bind = XMLElement(name: "bind", namespace: XMPPNamespace.bind)
            if let resource { bind.children = [.element(XMLElement(name: "resource", namespace: XMPPNamespace.bind, children: [.text(resource)]))] }
            let iq = XMLElement(name: "iq", namespace: XMPPNamespace.client, attributes: ["type": "set", "id": "bind-1"], children: [.element(bind)])
            return [.send(XMLSerializer.string(iq, defaultNamespace: XMPPNamespace.client))]
        }

        private mutating func establishClient(jid: String) -> [Action] {
            var actions: [Action] = []
            if sendInitialPresence { actions.append(.send("<presence/>")) }
            if streamManagement && streamManagementOffered {
                state = .enablingStreamManagement(jid: jid)
                actions.append(.send("<enable xmlns='\(XMPPNamespace.streamManagement)'/>"))
                return actions
            }
            state = .established
            actions.append(.established(jid: jid, streamID: streamID))
            return actions
        }

        /// `<r/>` and `<a h='…'/>` on an established stream (XEP-0198 §4).
        private mutating func streamManagementElement(_ element: XMLElement) -> [Action] {
            switch element.name {
            case "r":
                return [.answerAckRequest]
            case "a":
                guard let text = element[attribute: "h"], let handled = UInt32(text) else {
                    return fail(XMPPClientError(.protocolError, message: "stream management <a/> without a valid h"))
                }
                return [.acknowledged(handled)]
            default:
                return fail(XMPPClientError(.protocolError, message: "unexpected stream management <\(element.name)>"))
            }
        }

        private mutating func streamError(_ element: XMLElement) -> [Action] {
            let condition = element.elements.first { $0.namespace == XMPPNamespace.streamErrors && $0.name != "text" }?.name
            let text = element.firstChild(named: "text", namespace: XMPPNamespace.streamErrors)?.text
            let negotiating: Bool
            switch state {
            case .established, .closed: negotiating = false
            default: negotiating = true
            }
            let code: XMPPClientError.Code = negotiating && condition == "not-authorized" ? .authenticationFailed : .streamError
            return fail(XMPPClientError(code, message: text, condition: condition))
        }

        private mutating func unexpected(_ element: XMLElement) -> [Action] {
            fail(XMPPClientError(.protocolError, message: "unexpected <\(element.name)> during stream negotiation"))
        }

        private mutating func fail(_ error: XMPPClientError) -> [Action] {
            state = .closed
            return [.fail(ErrorBox(error: error))]
        }

        /// The defined condition of a stanza's `<error>` child, such as `service-unavailable`.
        static func stanzaErrorCondition(_ stanza: XMLElement) -> String? {
            stanza.firstChild(named: "error")?.elements.first { $0.namespace == XMPPNamespace.stanzaErrors && $0.name != "text" }?.name
        }
    }
}
