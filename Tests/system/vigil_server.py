#===----------------------------------------------------------------------===//
#
# This source file is part of the Vigil open source project.
# SPDX-License-Identifier: Apache-2.0
#
#===----------------------------------------------------------------------===//
"""Starts the built `vigil` binary on a free 127.0.0.1 port with a temporary configuration, for the
out-of-process tests in Tests/system (http-abuse.sh, http-schemathesis.sh).

The configuration gives every route something to answer: the host sampler (states and history
series), two devices and an agent (states and events), and an Announcer whose XMPP node is a closed
port, so that /v1/announce/* is served on the main listener. No external service is needed; when
MOSQUITTO_HOST/MOSQUITTO_PORT are set the devices use that broker.
"""

import os
import socket
import subprocess
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The [host_ingest] token of POST /api/v1/ingest/host (vigil agent's route).
INGEST_TOKEN = "system-test-ingest-token-0123"


class Vigil:
    def __init__(self, work):
        self.work = work
        self.port = free_port()
        closed_port = free_port()  # nothing listens here: the Announcer keeps retrying its XMPP node
        mqtt_host = os.environ.get("MOSQUITTO_HOST", "127.0.0.1")
        mqtt_port = os.environ.get("MOSQUITTO_PORT", str(free_port()))
        self.config = os.path.join(work, "vigil.toml")
        with open(self.config, "w") as f:
            f.write(f"""
[http]
listen = "127.0.0.1:{self.port}"

[store]
path = "{work}/vigil.sqlite"

[host]
interval = "1s"

[mqtt]
serverAddress = "tcp://{mqtt_host}:{mqtt_port}"
baseTopic = "vigil-system-test-{self.port}/mon"

[device_esp1]
watchTimeOut = 2
watchTopics = "vigil-system-test-{self.port}/esp1/#"

[device_esp2]
watchTimeOut = 600
watchTopics = "vigil-system-test-{self.port}/esp2/#"

[agent_ticker]
exec = "sleep 600"

[host_ingest]
enabled = true
tokens = ["{INGEST_TOKEN}"]
max_hosts = 4

[ejabberd]
cluster_nodes = "127.0.0.1:{closed_port}"

[component]
name = "announcer"
secret = "system-test"
domain = "example.test"
""")
        binary = os.environ.get("VIGIL_BINARY", os.path.join(ROOT, ".build", "debug", "vigil"))
        if not os.access(binary, os.X_OK):
            raise RuntimeError(f"{binary} not found: build it first (swift build)")
        self.log_path = os.path.join(work, "vigil.log")
        self.log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.process = subprocess.Popen([binary, "serve", "--config", self.config], cwd=work, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        while not self.ready():
            if time.time() > deadline:
                raise RuntimeError(f"vigil did not become ready in 60 s; log: {self.log_path}")
            time.sleep(0.2)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def alive(self):
        return self.process.poll() is None

    def ready(self):
        if not self.alive():
            raise RuntimeError(f"vigil exited with {self.process.returncode}; log: {self.log_path}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=2) as response:
                return response.status == 200
        except OSError:
            return False

    def rss_kib(self):
        try:
            with open(f"/proc/{self.process.pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1])
        except OSError:
            pass
        return 0

    def tail(self, lines=30):
        self.log.flush()
        with open(self.log_path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
