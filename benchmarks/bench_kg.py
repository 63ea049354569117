"""Benchmark the knowledge graph's "Light and fast" targets and write results/kg.json (+ .md).

Measures: cold build (fresh cache), ``AnatomyKG.load()`` of a built graph, CLI call latency
(fresh processes; also checks that torch is never imported), API lookups (resolve,
findings_at, locations_of; >= 500 distinct queries each, p50/p95, on a fresh graph object so
first-call work is included), SPARQL and path latency.

Run: ``.venv/bin/python -m benchmarks.bench_kg [--quick]``.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._machine import write_result

TARGETS = {"cold_build_s": 30.0, "load_s": 0.5, "cli_p50_s": 1.0, "lookup_p50_ms": 1.0}
REPO = Path(__file__).resolve().parents[1]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(values: list[float], scale: float = 1.0, digits: int = 4) -> dict:
    return {"n": len(values), "p50": round(statistics.median(values) * scale, digits),
            "p95": round(pct(values, 0.95) * scale, digits), "max": round(max(values) * scale, digits)}


def misspell(text: str, rng: random.Random) -> str:
    """Swap two adjacent letters inside one word longer than 5 letters (if any)."""
    words = text.split()
    long = [i for i, w in enumerate(words) if len(w) > 5 and w.isalpha()]
    if not long:
        return text
    i = rng.choice(long)
    w = words[i]
    j = rng.randrange(1, len(w) - 2)
    words[i] = w[:j] + w[j + 1] + w[j] + w[j + 2:]
    return " ".join(words)


def resolve_queries(kg, rng: random.Random, n: int) -> list[str]:
    """Distinct free-text queries: labels, synonyms, abbreviations, case/plural/side variants, misspellings."""
    queries: dict[str, None] = {}
    for node in kg.nodes():
        for text in (node.label, node.label.upper(), node.label.title() + "s", *node.synonyms[:2], *node.abbreviations[:2]):
            queries[text] = None
        if node.laterality in ("left", "right") and node.cig_short:
            queries[f"{node.laterality[0].upper()} {node.label.split(' ', 1)[-1]}"] = None
    base = list(queries)
    for text in rng.sample(base, min(len(base), n // 5)):
        queries[misspell(text, rng)] = None
    out = list(queries)
    rng.shuffle(out)
    return out[: max(n, 500)]


def term_queries(nodes, n: int) -> list[str]:
    """>= n distinct query strings naming these nodes (id, label, variants)."""
    out: dict[str, None] = {}
    for variant in (lambda x: x.id, lambda x: x.label, lambda x: x.label.upper(), lambda x: x.label + "s",
                    lambda x: " " + x.label.title(), lambda x: x.label.replace(" ", "-"), lambda x: x.label + "."):
        for node in nodes:
            out[variant(node)] = None
    return list(out)[: max(n, 500)]


def timed(func, queries) -> tuple[list[float], int]:
    times, failures = [], 0
    for q in queries:
        start = time.perf_counter()
        try:
            func(q)
        except Exception:  # unknown terms count as answered lookups
            failures += 1
        times.append(time.perf_counter() - start)
    return times, failures


def bench_api(n: int) -> dict:
    from kg import AnatomyKG

    kg = AnatomyKG.load()  # fresh object: empty query caches
    rng = random.Random(0)
    results = {}
    queries = resolve_queries(kg, rng, n)
    times, fails = timed(kg.resolve, queries)
    results["resolve"] = {**summary(times, 1e3), "unit": "ms", "distinct_queries": len(set(queries)), "unresolved": fails}
    anatomy = term_queries(kg.nodes("anatomy"), n)
    times, fails = timed(kg.findings_at, anatomy)
    results["findings_at"] = {**summary(times, 1e3), "unit": "ms", "distinct_queries": len(set(anatomy)), "unresolved": fails}
    findings = term_queries([x for t in ("finding", "disease", "device") for x in kg.nodes(t)], n)
    times, fails = timed(kg.locations_of, findings)
    results["locations_of"] = {**summary(times, 1e3), "unit": "ms", "distinct_queries": len(set(findings)), "unresolved": fails}
    times, fails = timed(lambda q: kg.locations_of(q, region_set="cig29"), findings)
    results["locations_of_cig29"] = {**summary(times, 1e3), "unit": "ms", "distinct_queries": len(set(findings)), "unresolved": fails}
    ids = [x.id for x in kg.nodes()]
    pairs = [(rng.choice(ids), rng.choice(ids)) for _ in range(200)]
    times, fails = timed(lambda p: kg.path(*p), pairs)
    results["path"] = {**summary(times, 1e3), "unit": "ms", "pairs": len(pairs), "failed": fails}
    start = time.perf_counter()
    kg.sparql("SELECT ?x WHERE { ?x avlm:part_of avlm:left_lung }")
    first = time.perf_counter() - start
    sparql_queries = [f"SELECT ?f ?n WHERE {{ ?e avlm:anatomy avlm:{a} ; avlm:finding ?f ; avlm:studies ?n }}"
                      for a in ids[:50]]
    times, fails = timed(kg.sparql, sparql_queries)
    results["sparql"] = {**summary(times, 1e3), "unit": "ms", "first_query_incl_rdf_build_ms": round(first * 1e3, 1),
                         "queries": len(sparql_queries), "failed": fails}
    return results


def bench_build() -> dict:
    """Cold build into a fresh cache (in a subprocess, imports included), then warm loads."""
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "ANATOMY_VLM_CACHE": cache}
        code = ("import time; t = time.perf_counter(); from kg import AnatomyKG; kg = AnatomyKG.load(); "
                "print(time.perf_counter() - t, kg.raw['build_seconds'])")
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, cwd=REPO)
        cold, build_only = (float(x) for x in out.stdout.split())
        code = ("import time; t = time.perf_counter(); from kg import AnatomyKG; AnatomyKG.load(); "
                "print(time.perf_counter() - t)")
        loads = [float(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                      check=True, cwd=REPO).stdout) for _ in range(5)]
    return {"cold_build_s": round(cold, 3), "cold_build_graph_only_s": build_only,
            "load": {**summary(loads, 1.0, 4), "unit": "s", "note": "fresh process: import kg + AnatomyKG.load() from cache"}}


def bench_cli(runs: int) -> dict:
    commands = [["info"], ["resolve", "L CPA"], ["findings-at", "cardiac silhouette"],
                ["locations-of", "pleural effusion"], ["path", "pneumonia", "right lower lung zone"],
                ["resolve", "plueral efusion"]]
    times, torch_seen = [], False
    for i in range(runs):
        argv = commands[i % len(commands)]
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-X", "importtime", "-m", "anatomy_vlm.cli", "kg", *argv, "--json"],
                              capture_output=True, text=True, cwd=REPO)
        times.append(time.perf_counter() - start)
        torch_seen |= any(line.split("|")[-1].strip().startswith("torch") for line in proc.stderr.splitlines()
                          if line.startswith("import time:"))
        if proc.returncode != 0:
            raise SystemExit(f"CLI failed: {argv}: {proc.stderr.splitlines()[-1:]}")
    return {"cli": {**summary(times, 1.0, 3), "unit": "s", "commands": [" ".join(c) for c in commands]},
            "cli_imports_torch": torch_seen}


def markdown(payload: dict) -> str:
    api = payload["api"]
    rows = [f"| cold build (fresh cache, process incl. imports) | {payload['build']['cold_build_s']} s | < 30 s |",
            f"| AnatomyKG.load() of a built graph (fresh process, p50) | {payload['build']['load']['p50']} s | < 0.5 s |",
            f"| CLI call p50 / p95 | {payload['cli']['cli']['p50']} / {payload['cli']['cli']['p95']} s | p50 < 1 s |",
            f"| CLI imports torch | {payload['cli']['cli_imports_torch']} | False |"]
    for name in ("resolve", "findings_at", "locations_of", "locations_of_cig29", "path", "sparql"):
        r = api[name]
        target = "p50 < 1 ms" if name in ("resolve", "findings_at", "locations_of") else "—"
        unresolved = f", unresolved {r['unresolved']}" if "unresolved" in r else ""
        rows.append(f"| {name} p50 / p95 (n={r['n']}{unresolved}) | {r['p50']} / {r['p95']} ms | {target} |")
    rows.append(f"| sparql first query (builds the RDF view, once per process) | {api['sparql']['first_query_incl_rdf_build_ms']} ms | — |")
    machine = payload["machine"]
    load = payload.get("machine_load")
    busy = (f" 1-minute load average {load['load_average_1min_start']} at start, {load['load_average_1min_end']} "
            "at end (wall-clock figures grow with it)." if load else "")
    return ("# bench_kg\n\n" + f"Machine: {machine['cpu']}, {machine['cores']} cores, Python {machine['python']}.{busy}\n\n"
            "| measure | value | target |\n|---|---|---|\n" + "\n".join(rows) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer CLI runs")
    parser.add_argument("--queries", type=int, default=600)
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    build = bench_build()
    cli = bench_cli(6 if args.quick else 18)
    api = bench_api(args.queries)
    # wall-clock figures scale with what else runs on the machine: record its load
    load = {"load_average_1min_start": round(load_before, 2), "load_average_1min_end": round(os.getloadavg()[0], 2)}
    payload = {"targets": TARGETS, "build": build, "cli": cli, "api": api, "machine_load": load}
    from benchmarks._machine import machine

    payload["machine"] = machine()
    path = write_result("kg", {k: v for k, v in payload.items() if k != "machine"}, markdown=markdown(payload))
    print(markdown(payload))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
