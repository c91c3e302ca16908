#!/usr/bin/env python3
#===----------------------------------------------------------------------===//
#
# This source file is part of the Vigil open source project.
# SPDX-License-Identifier: Apache-2.0
#
#===----------------------------------------------------------------------===//
"""Browser test of Vigil's dashboard with Debian's headless Chromium, driven by Selenium.

Starts `vigil` with live sources (two MQTT devices on the test Mosquitto and the host sampler),
opens the dashboard and checks that:
  1. the tables fill from the WebSocket snapshot (devices, hosts, overview cards);
  2. a state change -- device esp1 falls silent and expires -- appears without a reload;
  3. the expiry shows in the event log;
  4. a history chart renders with Chart.js from libjs-chart.js;
  5. the page fits a phone's width (tables scroll inside their cards);
  6. when Vigil goes away the page says so (reconnecting/stale) instead of showing old data as live.
It saves a screenshot (default $VIGIL_TEST_TMP/dashboard.png; --screenshot PATH to choose).

Usage: Tests/browser/dashboard.sh [--screenshot docs/dashboard.png]
"""

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(condition, timeout, what, interval=0.2):
    deadline = time.time() + timeout
    last_error = None
    while time.time() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # the page may be between renders
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


class Vigil:
    def __init__(self, work, mqtt_host, mqtt_port, prefix):
        self.port = free_port()
        self.work = work
        config = os.path.join(work, "vigil.toml")
        with open(config, "w") as f:
            f.write(f"""
[http]
listen = "127.0.0.1:{self.port}"

[store]
path = "{work}/vigil.sqlite"

[host]
interval = "1s"

[mqtt]
serverAddress = "tcp://{mqtt_host}:{mqtt_port}"
baseTopic = "{prefix}/mon"

[device_esp1]
watchTimeOut = 3
watchTopics = "{prefix}/esp1/#"

[device_esp2]
watchTimeOut = 600
watchTopics = "{prefix}/esp2/#"

[agent_ticker]
exec = "sleep 30"

[alerting]
interval = "1s"
startup_delay = "0s"
""")
        binary = os.environ.get("VIGIL_BINARY", os.path.join(ROOT, ".build", "debug", "vigil"))
        if not os.access(binary, os.X_OK):
            raise AssertionError(f"{binary} not found: build it first (swift build)")
        self.log_path = os.path.join(work, "vigil.log")
        self.log = open(self.log_path, "w")
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIL_")}
        self.process = subprocess.Popen([binary, "serve", "--config", config], cwd=work, env=env,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(self.ready, 30, "vigil /readyz")

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    def ready(self):
        if self.process.poll() is not None:
            raise AssertionError(f"vigil exited with {self.process.returncode}; log: {self.log_path}")
        try:
            with urllib.request.urlopen(self.url + "/readyz", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def stop(self):
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def publish(host, port, topic, payload):
    subprocess.run(["mosquitto_pub", "-h", host, "-p", str(port), "-t", topic, "-m", payload], check=True, timeout=10)


def make_driver(width, height):
    os.environ.setdefault("SE_OFFLINE", "true")  # Selenium must never download a browser or driver
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = os.environ.get("CHROMIUM", shutil.which("chromium") or "/usr/bin/chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     f"--window-size={width},{height}", "--force-prefers-reduced-motion", "--hide-scrollbars"):
        options.add_argument(argument)
    service = Service(executable_path=os.environ.get("CHROMEDRIVER", shutil.which("chromedriver") or "/usr/bin/chromedriver"))
    return webdriver.Chrome(service=service, options=options)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--screenshot", default=None, help="where to save the screenshot")
    args = parser.parse_args()

    mqtt_host = os.environ.get("MOSQUITTO_HOST")
    mqtt_port = os.environ.get("MOSQUITTO_PORT")
    if not mqtt_host or not mqtt_port:
        print("dashboard_test: MOSQUITTO_HOST/MOSQUITTO_PORT not set (scripts/test starts Mosquitto)", file=sys.stderr)
        print("0 passed, 1 failed")
        return 1

    scratch = os.environ.get("VIGIL_TEST_TMP") or tempfile.gettempdir()
    work = tempfile.mkdtemp(prefix="vigil-browser.", dir=scratch)
    screenshot = args.screenshot or os.path.join(scratch, "dashboard.png")
    prefix = f"vigil-browser-{os.getpid()}"
    passed, failed = [], []
    vigil = None
    driver = None

    def check(name, body):
        try:
            body()
            passed.append(name)
            print(f"ok   {name}")
        except Exception as error:
            failed.append(name)
            print(f"FAIL {name}: {error}")
            traceback.print_exc(limit=1)

    try:
        vigil = Vigil(work, mqtt_host, mqtt_port, prefix)
        # esp1 talks every half second until the page has shown it up, then falls silent.
        esp1_talks = threading.Event()
        esp1_talks.set()

        def esp1_publisher():
            while esp1_talks.is_set():
                publish(mqtt_host, mqtt_port, f"{prefix}/esp1/sensors/temp", "21.5")
                time.sleep(0.5)

        publisher = threading.Thread(target=esp1_publisher, daemon=True)
        publisher.start()
        publish(mqtt_host, mqtt_port, f"{prefix}/esp2/sensors/temp", "19.0")
        driver = make_driver(1280, 1000)
        driver.get(vigil.url + "/")
        js = driver.execute_script

        def snapshot_fills_tables():
            wait_until(lambda: js("return window.vigil && window.vigil.snapshots") >= 1, 15, "the WebSocket snapshot")
            wait_until(lambda: driver.find_element("id", "conn-status").text == "live", 10, "the 'live' badge")
            row = wait_until(lambda: driver.find_elements("css selector", '#devices-table tr[data-target="device/esp1"][data-status="up"]'),
                             15, "device esp1 up in the devices table")
            assert row, "no esp1 row"
            assert driver.find_elements("css selector", '#devices-table tr[data-target="device/esp2"]'), "no esp2 row"
            hosts = wait_until(lambda: driver.find_elements("css selector", "#hosts-table tbody tr[data-target]"), 10, "a host row")
            cpu = hosts[0].find_elements("css selector", "td")[2].text
            assert cpu.endswith("%") or cpu == "—", f"CPU cell {cpu!r}"
            count = driver.find_element("css selector", '#overview .card[data-kind="device"] .count').text
            assert count == "2", f"overview says {count} devices"
            wait_until(lambda: driver.find_elements("css selector", '#agents-table tr[data-target="agent/ticker"]'), 10, "the agent row")

        def change_without_reload():
            esp1_talks.clear()
            publisher.join(timeout=5)
            js("window.__noReload = 'still here'")
            snapshots = js("return window.vigil.snapshots")
            # esp1 got one message; after watchTimeOut (3 s) the watchdog expires it.
            wait_until(lambda: driver.find_elements("css selector", '#devices-table tr[data-target="device/esp1"][data-status="down"]'),
                       20, "device esp1 to turn down")
            assert js("return window.__noReload") == "still here", "the page was reloaded"
            assert js("return window.vigil.snapshots") == snapshots, "the feed reconnected instead of updating"
            assert js("return window.vigil.updates") > 0
            badge = driver.find_element("css selector", '#devices-table tr[data-target="device/esp1"] .badge').text
            assert badge == "down", f"badge says {badge!r}"
            assert driver.find_elements("css selector", '#devices-table tr[data-target="device/esp2"][data-status="up"]'), "esp2 should stay up"

        def event_logged():
            wait_until(lambda: "device/esp1" in driver.find_element("id", "events-table").text, 10, "an event about esp1 in the log")

        def alert_shown():
            # DeviceExpired fires as soon as esp1 expires; the panel polls /api/v1/alerts every 10 s.
            row = '#alerts-table tr[data-alert="DeviceExpired|device/esp1"]'
            wait_until(lambda: driver.find_elements("css selector", row), 25, "esp1's DeviceExpired alert in the alerts panel")
            badge = driver.find_element("css selector", row + " .badge").text
            assert badge == "firing", f"alert badge says {badge!r}"

        def chart_renders():
            assert js("return typeof window.Chart") == "function", "Chart.js did not load from /assets/chart.js"

            def rendered():
                points = js("""
                    const boxes = Array.from(document.querySelectorAll('.chart[data-rendered="true"]'));
                    return boxes.map((b) => { const c = b.querySelector('canvas'); const chart = c && window.Chart.getChart(c);
                                             return chart ? chart.data.datasets[0].data.length : 0; });""")
                if points and max(points) >= 2:
                    return points
                driver.find_element("id", "chart-refresh").click()
                return None

            points = wait_until(rendered, 30, "a history chart with at least 2 points", interval=2)
            assert js("return document.getElementById('chart-target').value").startswith("host/"), "default chart target is not the host"
            print(f"     chart points: {points}")

        def phone_width():
            driver.set_window_size(390, 844)
            time.sleep(0.5)
            overflow = js("return document.documentElement.scrollWidth - document.documentElement.clientWidth")
            assert overflow <= 1, f"page is {overflow}px wider than a phone screen"
            driver.save_screenshot(os.path.splitext(screenshot)[0] + "-phone.png")
            driver.set_window_size(1280, 1000)

        def save_screenshot():
            js("window.scrollTo(0, 0)")
            height = js("return Math.min(document.documentElement.scrollHeight, 2600)")
            driver.set_window_size(1280, height + 140)
            time.sleep(0.5)
            os.makedirs(os.path.dirname(os.path.abspath(screenshot)), exist_ok=True)
            assert driver.save_screenshot(screenshot), "screenshot failed"
            print(f"     screenshot: {screenshot}")

        def stale_when_gone():
            vigil.stop()
            wait_until(lambda: driver.find_element("id", "conn-status").text in ("reconnecting", "stale"), 10,
                       "the page to show that the feed is gone")
            assert "stale" in js("return document.body.className"), "body is not marked stale"

        check("tables fill from the snapshot", snapshot_fills_tables)
        check("a device expiring appears without a reload", change_without_reload)
        check("the expiry is in the event log", event_logged)
        check("the expiry's alert is in the alerts panel", alert_shown)
        check("a history chart renders with Chart.js", chart_renders)
        check("the page fits a phone's width", phone_width)
        check("screenshot saved", save_screenshot)
        check("a lost feed shows as reconnecting/stale", stale_when_gone)
    except Exception as error:
        failed.append("setup")
        print(f"FAIL setup: {error}")
        traceback.print_exc()
    finally:
        if driver is not None:
            driver.quit()
        if vigil is not None:
            vigil.stop()
        if failed and vigil is not None:
            print(f"vigil log: {vigil.log_path}")
            with open(vigil.log_path) as log:
                print("".join(log.readlines()[-30:]))
    print(f"dashboard: {len(passed)} passed, {len(failed)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
