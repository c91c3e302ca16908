#!/usr/bin/env python3
# One measured subscriber run: starts the subscriber, waits until it is subscribed, runs the
# publisher, waits for the subscriber to exit and prints one CSV line
#
#   tool,count,cpu_total_s,cpu_startup_s,cpu_per_msg_us,seconds,exit,result
#
# The CPU time is the subscriber's own (user + system, from wait4's rusage). cpu_startup_s is what
# it had used when publishing started (/proc/PID/stat, clock ticks); cpu_per_msg_us excludes it, so
# the figure is the receive path alone. `seconds` runs from the first byte published (the
# publisher's `start=EPOCH` line) until the subscriber exited; `count` is COUNT, or the
# publisher's `count=N` line when it prints one. `result` is the subscriber's last output line
# (key=value pairs separated by spaces) followed by the publisher's other key=value lines.
#
# Usage: measure.py TOOL COUNT READY -- SUBSCRIBER... -- PUBLISHER...
#   READY "line": the subscriber prints READY once subscribed and a result line at the end (its
#   other output is ignored); READY "delay": it prints nothing useful (mosquitto_sub, whose output
#   goes to /dev/null) and is given READY_DELAY seconds (default 1) to subscribe.
import os, subprocess, sys, time

tool, count, ready = sys.argv[1:4]
rest = sys.argv[4:]
assert rest[0] == "--"
split = rest.index("--", 1)
subscriber, publisher = rest[1:split], rest[split + 1 :]
count = int(count)
ticks = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks


if ready == "line":
    child = subprocess.Popen(subscriber, stdout=subprocess.PIPE, text=True)
    line = child.stdout.readline()
    if line.strip() != "READY":
        sys.exit(f"measure.py: {tool} did not get ready: {line!r}")
else:
    child = subprocess.Popen(subscriber, stdout=subprocess.DEVNULL)
    time.sleep(float(os.environ.get("READY_DELAY", "1.0")))
# Let start-up work (connection, subscription, first allocations) settle before the snapshot.
time.sleep(0.2)
startup = proc_cpu(child.pid)
published = subprocess.run(publisher, capture_output=True, text=True, check=True).stdout
fields = dict(line.split("=", 1) for line in published.split() if "=" in line)
start = float(fields["start"])
count = int(fields.get("count", count))
_, status, usage = os.wait4(child.pid, 0)
end = time.time()
result = ""
if ready == "line":
    lines = [line for line in child.stdout.read().splitlines() if line.strip()]
    child.stdout.close()
    result = lines[-1] if lines else ""
# What else the publisher reports (the watchdog replay: expected=E) joins the result.
extra = " ".join(f"{key}={value}" for key, value in fields.items() if key not in ("start", "count", "end"))
if extra:
    result = f"{result} {extra}" if result else f"{tool} {extra}"
total = usage.ru_utime + usage.ru_stime
code = os.waitstatus_to_exitcode(status)
print(f"{tool},{count},{total:.3f},{startup:.3f},{(total - startup) / count * 1e6:.3f},{end - start:.3f},{code},{result}")
