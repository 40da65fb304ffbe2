"""The time table ./scripts/test prints at its end.

Usage: test_times.py JUNIT.xml [PHASE=SECONDS ...]

Phases are the script's own steps (formatting, build, the test run) in wall-clock seconds.
From nextest's JUnit report (when it exists): per test binary and module, the number of tests
and the seconds they ran (summed over tests, which run side by side), and the slowest tests.
"""

import os
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def fmt(seconds):
    seconds = float(seconds)
    return f"{int(seconds // 60)}:{seconds % 60:04.1f}" if seconds >= 60 else f"{seconds:.1f}s"


def main(argv):
    junit, phases = argv[0], argv[1:]
    print("\n== time table ==")
    total = 0
    for p in phases:
        label, _, secs = p.rpartition("=")
        total += int(secs)
        print(f"  {label:<44} {fmt(secs):>9}")
    if phases:
        print(f"  {'all of the above':<44} {fmt(total):>9}")
    if not os.path.exists(junit):
        return
    try:
        root = ET.parse(junit).getroot()
    except ET.ParseError as e:
        print(f"  (cannot read {junit}: {e})")
        return
    groups = defaultdict(lambda: [0, 0.0, 0])
    cases = []
    for suite in root.iter("testsuite"):
        binary = suite.get("name", "?")
        for case in suite.iter("testcase"):
            name = case.get("name", "?")
            secs = float(case.get("time", "0") or 0)
            failed = case.find("failure") is not None or case.find("error") is not None
            module = name.split("::")[0] if "::" in name else ""
            for key in (binary, f"{binary} {module}::" if module else None):
                if key is None:
                    continue
                g = groups[key]
                g[0] += 1
                g[1] += secs
                g[2] += failed
            cases.append((secs, f"{binary} {name}", failed))
    print(f"\n  {'test binary / module':<52} {'tests':>5} {'test time':>9} {'failed':>6}")
    for key in sorted(groups):
        n, secs, failed = groups[key]
        indent = "    " if " " in key else "  "
        print(f"{indent}{key:<{54 - len(indent)}} {n:>5} {fmt(secs):>9} {failed or '':>6}")
    print("\n  slowest tests:")
    for secs, name, failed in sorted(cases, reverse=True)[:10]:
        print(f"  {fmt(secs):>9}  {name}{'  FAILED' if failed else ''}")


if __name__ == "__main__":
    main(sys.argv[1:])
