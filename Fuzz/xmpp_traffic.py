#!/usr/bin/env python3
"""Plays client and component XMPP sessions against a server for seed capture (docs/FUZZING.md).

    xmpp_traffic.py HOST C2S_PORT COMPONENT_PORT DOMAIN COMPONENT_DOMAIN SECRET USER:PASSWORD...
"""
import base64
import hashlib
import re
import socket
import sys
import time


def session(host, port, script):
    s = socket.create_connection((host, port), timeout=3)
    received = b""
    for chunk in script:
        if callable(chunk):
            chunk = chunk(received)
        if chunk:
            s.sendall(chunk.encode())
        deadline = time.time() + 0.4
        s.settimeout(0.2)
        while time.time() < deadline:
            try:
                data = s.recv(65536)
                if not data:
                    break
                received += data
            except socket.timeout:
                pass
    s.close()
    return received


def client(host, port, domain, user, password, peer):
    auth = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
    header = (f"<?xml version='1.0'?><stream:stream to='{domain}' version='1.0' xml:lang='en' "
              "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>")
    session(host, port, [
        header,
        f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{auth}</auth>",
        header,
        "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>fz</resource></bind></iq>",
        "<iq type='set' id='s1'><session xmlns='urn:ietf:params:xml:ns:xmpp-session'/></iq>",
        "<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>",
        "<presence><status>fuzz &amp; seeds</status><priority>5</priority></presence>",
        f"<message to='{peer}@{domain}' type='chat' id='m1'><body>h\u00e9llo &lt;\u2603&gt;</body></message>",
        f"<message to='nobody@{domain}' type='chat' id='m2'><body>bounce</body></message>",
        f"<iq to='{domain}' type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>",
        f"<iq to='{domain}' type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>",
        "<iq type='get' id='bad'><unknown xmlns='urn:example:nothing'/></iq>",
        "</stream:stream>",
    ])
    # A failed login and a malformed stream give stream errors.
    bad = base64.b64encode(f"\0{user}\0wrong".encode()).decode()
    session(host, port, [header, f"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{bad}</auth>"])
    session(host, port, [header, "<message><body>unclosed</message>"])
    session(host, port, ["<stream:stream to='nowhere.invalid' xmlns='jabber:client' "
                         "xmlns:stream='http://etherx.jabber.org/streams' version='1.0'>"])


def component(host, port, domain, secret, user, user_domain):
    header = (f"<stream:stream to='{domain}' xmlns='jabber:component:accept' "
              "xmlns:stream='http://etherx.jabber.org/streams'>")

    def handshake(received, key=secret):
        match = re.search(rb"id=['\"]([^'\"]+)['\"]", received)
        stream_id = match.group(1).decode() if match else ""
        return "<handshake>" + hashlib.sha1((stream_id + key).encode()).hexdigest() + "</handshake>"

    session(host, port, [
        header, handshake,
        f"<presence from='bot@{domain}' to='{user}@{user_domain}' type='subscribe'/>",
        f"<message from='bot@{domain}' to='{user}@{user_domain}' type='headline'><body>announce</body></message>",
        f"<iq from='{domain}' to='{user_domain}' type='get' id='c1'><ping xmlns='urn:xmpp:ping'/></iq>",
        "</stream:stream>",
    ])
    session(host, port, [header, lambda r: handshake(r, "wrong")])


def main():
    host, c2s, comp, domain, comp_domain, secret = sys.argv[1:7]
    users = [pair.split(":", 1) for pair in sys.argv[7:]]
    for index, (user, password) in enumerate(users[:2]):
        client(host, int(c2s), domain, user, password, users[(index + 1) % len(users)][0])
    component(host, int(comp), comp_domain, secret, users[0][0], domain)


if __name__ == "__main__":
    main()
