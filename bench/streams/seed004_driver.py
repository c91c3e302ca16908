#!/usr/bin/env python3
# Runs the seed-004 exporter's fetch_metrics() against a URL list and measures it.
#
# The exporter itself is NOT part of this repository: run.sh extracts stream_monitor.py from the
# seed document at run time and passes its path here. This driver loads it as a module (its
# __main__ block does not run), points its API_BASE_URLS at the simulated fleet, runs one warm-up
# cycle and N measured cycles, and prints one JSON line with wall and CPU seconds per cycle.
import contextlib
import importlib.util
import io
import json
import statistics
import sys
import time


def main():
    module_path, urls, cycles = sys.argv[1], sys.argv[2].split(","), int(sys.argv[3])
    spec = importlib.util.spec_from_file_location("stream_monitor", module_path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.API_BASE_URLS = urls
    sink = io.StringIO()
    with contextlib.redirect_stdout(sink):
        module.fetch_metrics()
    walls, cpus = [], []
    for _ in range(cycles):
        cpu_start, start = time.process_time(), time.perf_counter()
        with contextlib.redirect_stdout(sink):
            module.fetch_metrics()
        walls.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu_start)
    warnings = sink.getvalue().count("[WARN]")
    print(json.dumps({
        "impl": "seed004-python", "cycles": cycles, "hosts": len(urls), "warnings": warnings,
        "wall_mean": statistics.mean(walls), "wall_median": statistics.median(walls),
        "cpu_mean": statistics.mean(cpus),
    }))


if __name__ == "__main__":
    main()
