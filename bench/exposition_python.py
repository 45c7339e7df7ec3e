"""Times Python prometheus_client's generate_latest on the series of the Rust exposition
benchmark (20 gauge families x 1000 agents, labels agent_id and status): the anchor of
bench/exposition.sh."""
import statistics
import sys
import time

from prometheus_client import CollectorRegistry, Gauge, generate_latest

registry = CollectorRegistry()
agents = [f"0190f6d4-7a1b-7c3d-8e9f-{i:012d}" for i in range(1000)]
for f in range(20):
    g = Gauge(f"bench_family_{f}", "A benchmark family.", ["agent_id", "status"], registry=registry)
    for i, agent in enumerate(agents):
        g.labels(agent_id=agent, status="in_progress").set(i * f + 0.5)

runs = int(sys.argv[1]) if len(sys.argv) > 1 else 15
size = len(generate_latest(registry))
times = []
for _ in range(runs):
    start = time.perf_counter()
    generate_latest(registry)
    times.append(time.perf_counter() - start)
median = statistics.median(times)
print(f"python_prometheus_client {median * 1e3:.2f} ms {size} bytes {size / median / 1e6:.1f} MB/s")
