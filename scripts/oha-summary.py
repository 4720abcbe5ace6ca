"""One line from an oha JSON report: the rate reached, p50/p99/max latency
and the count of answers that were not 2xx (or no answer at all).

    python3 scripts/oha-summary.py REPORT.json PREFIX [SUFFIX]

Exits 1 if any answer was not 2xx.
"""
import json
import sys

report = json.load(open(sys.argv[1]))
summary, percentiles = report["summary"], report["latencyPercentiles"]
statuses = report.get("statusCodeDistribution", {})
bad = sum(n for code, n in statuses.items() if not code.startswith("2"))
bad += sum(report.get("errorDistribution", {}).values())
print(f"{sys.argv[2]} requests={sum(statuses.values())} rps={summary['requestsPerSec']:.0f} "
      f"p50_ms={percentiles['p50'] * 1000:.2f} p99_ms={percentiles['p99'] * 1000:.2f} "
      f"max_ms={summary['slowest'] * 1000:.2f} errors={bad}"
      + "".join(f" {suffix}" for suffix in sys.argv[3:]))
sys.exit(1 if bad else 0)
