"""Turns the raw figures of bench/run (environment variables and files in
$WORK) into the Markdown section of docs/benchmarks.md."""
import os
import platform
from datetime import date

env = os.environ
work = env["WORK"]


def pairs(name):
    with open(os.path.join(work, name)) as f:
        return dict((line.split()[0], float(line.split()[1])) for line in f if line.strip())


def rss_max():
    peak = {}
    path = os.path.join(work, "rss-samples.txt")
    if os.path.exists(path):
        for line in open(path):
            parts = line.split()
            if len(parts) == 2:
                peak[parts[0]] = max(peak.get(parts[0], 0.0), float(parts[1]))
    return peak


def cpu():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def mem_gib():
    for line in open("/proc/meminfo"):
        if line.startswith("MemTotal"):
            return int(line.split()[1]) / 1024 / 1024
    return 0


def ok(good):
    return "met" if good else "**missed**"


components = [line.strip() for line in open(os.path.join(work, "components.txt")) if line.strip()]
first, restart, idle, peak = pairs("start-first.txt"), pairs("start-restart.txt"), pairs("rss-idle.txt"), rss_max()
browse, pg_select = float(env["BROWSE_RPS"]), float(env["PG_SELECT"])
checkout, pg_update = float(env["CHECKOUT_RPS"]), float(env["PG_UPDATE"])
curve = [line.split() for line in open(os.path.join(work, "curve.txt")) if line.strip()]
at = {int(row[0]): row for row in curve}
idle_total = sum(idle.values())

print(f"## The stack against the machine (`bench/run`)\n")
print(f"Run {date.today()} with DURATION={env['DURATION']} s per step and {env['CONNECTIONS']} connections, "
      f"on {os.cpu_count()} × {cpu()}, {mem_gib():.0f} GiB, {platform.system()} {platform.release()}, "
      f"PostgreSQL {env['PG_VERSION']}. The {len(components)} components run as separate release processes; "
      "the load generator (`shop loadtest`), the components and PostgreSQL share the machine. "
      "Rate limiting is off (`RATE_LIMIT_PER_SECOND=0`), logs at warn, no trace export.\n")
print("| measure | shop | reference | ratio | target |")
print("|---|---|---|---|---|")
r = browse / pg_select
print(f"| GET /api/v1/products/{{id}}, closed loop | {browse:.0f} req/s | pgbench, same SELECT: {pg_select:.0f} tps | {r:.2f} | (the target is against the bare path: `bench/browse-vs-bare`) |")
r = checkout / pg_update
violations = [line for line in open(os.path.join(work, "invariants.txt")) if line.strip()]
print(f"| checkout (add to cart + POST /orders), closed loop | {checkout:.0f} checkouts/s ({env['CHECKOUT_ERRORS']} errors, "
      f"{len(violations)} invariant violations after) | pgbench -N (simple-update): {pg_update:.0f} tps | {r:.3f} | ≥ 0.1: {ok(r >= 0.1)} |")
if 70 in at:
    p50, p99 = float(at[70][3]), float(at[70][4])
    print(f"| p99 ÷ p50 at 70 % of saturation (open loop) | {p99 / 1000:.2f} ms ÷ {p50 / 1000:.2f} ms | | {p99 / p50:.1f} | ≤ 3: {ok(p99 <= 3 * p50)} |")
hop = pairs("hop.txt")
print(f"| latency one gRPC hop adds (p50, GetProduct minus its SQL) | {hop['hop_added_p50_us']:.0f} µs | raw tonic unary call over loopback: {hop['raw_tonic_p50_us']:.0f} µs | {hop['hop_ratio']:.2f} | |")
# The target was 60 MiB for the first four components: 15 MiB a component.
budget = 15 * len(components)
print(f"| idle RSS, the {len(components)} components together | {idle_total:.1f} MiB | | | ≤ {budget} MiB (15 a component): {ok(idle_total <= budget)} |")
slowest = max(restart.values())
print(f"| start to ready, slowest component (restart) | {slowest:.0f} ms | | | ≤ 100 ms: {ok(slowest <= 100)} |")
print()
print("### Latency against throughput (open loop, GET /api/v1/products/{id})\n")
print("Latency counted from each request's intended send time (coordinated omission corrected).\n")
print("| % of saturation | asked req/s | achieved req/s | p50 ms | p99 ms | p99.9 ms | errors % |")
print("|---|---|---|---|---|---|---|")
for pct, rate, got, p50, p99, p999, err in curve:
    print(f"| {pct} | {float(rate):.0f} | {float(got):.0f} | {int(p50) / 1000:.2f} | {int(p99) / 1000:.2f} | {int(p999) / 1000:.2f} | {float(err):.2f} |")
print("\n![latency against throughput](bench-latency.png)\n")
print("### Each component\n")
print("| component | start to ready, first start | restart | RSS idle | RSS peak under load |")
print("|---|---|---|---|---|")
for c in components:
    print(f"| {c} | {first.get(c, 0):.0f} ms | {restart.get(c, 0):.0f} ms | {idle.get(c, 0):.1f} MiB | {peak.get(c, 0):.1f} MiB |")


def cpu_table(title, prefix, count, unit):
    """CPU per request of each process over one closed-loop run."""
    before, after = pairs(f"{prefix}cpu-before.txt"), pairs(f"{prefix}cpu-after.txt")
    client = pairs(f"{prefix}client-cpu.txt")["loadtest"]
    busy = after["machine"] - before["machine"]
    if busy <= 0 or count <= 0:
        return
    hz = os.sysconf("SC_CLK_TCK")
    print(f"\n### {title}\n")
    print(f"| process | share of busy CPU | CPU per {unit} |")
    print("|---|---|---|")
    rest = busy
    for name in components + ["postgres"]:
        ticks = after[name] - before[name]
        rest -= ticks
        print(f"| {name} | {ticks / busy * 100:.0f} % | {ticks / hz * 1e6 / count:.0f} µs |")
    client_ticks = client * hz
    print(f"| the load generator (`shop loadtest`) | {client_ticks / busy * 100:.0f} % | {client * 1e6 / count:.0f} µs |")
    print(f"| everything else | {(rest - client_ticks) / busy * 100:.0f} % | {(rest - client_ticks) / hz * 1e6 / count:.0f} µs |")


cpu_table("Where the CPU goes at browse saturation (closed loop, by process)", "",
          float(open(os.path.join(work, "browse-requests.txt")).read()), "request")
wrk_line = [line.split() for line in open(os.path.join(work, "client-cpu.txt")) if line.startswith("wrk")]
if wrk_line:
    _, wrk_cpu, wrk_requests, wrk_rps = wrk_line[0]
    ours = pairs("client-cpu.txt")["loadtest"] / float(open(os.path.join(work, "browse-requests.txt")).read())
    theirs = float(wrk_cpu) / float(wrk_requests)
    print(f"\nThe load generator's own cost on the same browse requests: `shop loadtest` {ours * 1e6:.0f} µs of CPU per request, "
          f"wrk {theirs * 1e6:.0f} µs ({ours / theirs:.1f}×); the stack served {float(wrk_rps):.0f} req/s to wrk "
          f"against {browse:.0f} req/s to `shop loadtest`.")
checkouts = float(open(os.path.join(work, "checkout-count.txt")).read())
cpu_table("Where the CPU goes at checkout saturation (closed loop, by process)", "checkout-", checkouts, "checkout")
statements = [line.rstrip("\n").split("\t", 2) for line in open(os.path.join(work, "checkout-statements.tsv")) if line.strip()]
if statements and checkouts > 0:
    xacts = float(open(os.path.join(work, "checkout-xacts.txt")).read())
    calls = sum(int(c) for c, _, _ in statements)
    total_ms = sum(float(t) for _, t, _ in statements)
    print("\n### A checkout's statements (pg_stat_statements over the checkout run)\n")
    print(f"{calls / checkouts:.1f} statements and {xacts / checkouts:.1f} transactions per checkout "
          f"(this includes the load's add-to-cart, its restocking and each service's background work: "
          f"health probes, reservation sweep, order recovery); {total_ms * 1000 / checkouts:.0f} µs of "
          f"statement execution per checkout. The ten costliest:\n")
    print("| calls per checkout | µs per checkout | statement |")
    print("|---|---|---|")
    for c, t, q in statements[:10]:
        q = q.replace("|", "\\|")
        print(f"| {int(c) / checkouts:.2f} | {float(t) * 1000 / checkouts:.0f} | `{q[:110]}{'…' if len(q) > 110 else ''}` |")
print(f"\ngRPC hop (`bench/src/bin/grpc_hop.rs`, one connection, 20,000 sequential calls): "
      f"GetProduct p50 {hop['getproduct_p50_us']:.0f} µs (p99 {hop['getproduct_p99_us']:.0f}), its SQL alone "
      f"{hop['sql_p50_us']:.0f} µs, raw tonic health check {hop['raw_tonic_p50_us']:.0f} µs (p99 {hop['raw_tonic_p99_us']:.0f}).")
print("\nStart to ready: from spawning the process to its `/readyz` answering 200 (polled every 2 ms), "
      "which includes connecting to PostgreSQL and applying migrations (the first start also seeds the demo catalog); "
      "the gateway's readiness also waits for its backends.")
