"""Knowledge retrieval and encoder benchmark, side by side in one run.

1. GNN link prediction on held-out KG edges (located_in, has_finding_site, part_of, is_a)
   vs the text-embedding-only baseline (cosine of the initial features), plus train-step time.
2. Retrieval on the real KG node text embeddings (prompts as queries) and on synthetic
   corpora of 100k and 1M × 384 (perturbed mixtures of real node embeddings; queries drawn
   the same way, never in the corpus): FAISS flat / IVF (nprobe sweep) / HNSW vs exact
   numpy and torch brute force — recall@10 against exact, latency p50/p95 per query batch, QPS.

Run: ``.venv/bin/python -m benchmarks.bench_retrieval [--sizes 100000,1000000] [--threads 1]``.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from benchmarks._machine import write_result

K = 10
BATCH = 32


def _timed(fn, batches: list[np.ndarray], passes: int) -> tuple[list[float], list]:
    """Run ``fn`` on every batch ``passes`` times; seconds per batch call and the last pass's outputs."""
    seconds, outputs = [], []
    for _ in range(passes):
        outputs = []
        for batch in batches:
            start = time.perf_counter()
            outputs.append(fn(batch))
            seconds.append(time.perf_counter() - start)
    return seconds, outputs


def _latency(seconds: list[float], batch: int) -> dict:
    ms = np.asarray(seconds) * 1000
    return {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p95_ms": round(float(np.percentile(ms, 95)), 3),
            "qps": round(batch / float(np.median(seconds)), 1), "samples": len(seconds)}


def _recall(found_rows: np.ndarray, exact_rows: np.ndarray) -> float:
    hits = [len(set(f[f >= 0].tolist()) & set(e.tolist())) for f, e in zip(found_rows, exact_rows, strict=True)]
    return round(float(np.sum(hits)) / exact_rows.size, 4)


def _methods(corpus: np.ndarray, *, ivf_nlist: int, nprobes: tuple[int, ...], hnsw: bool):
    """``[(name, build_seconds, search(batch) -> rows [B, K], index_or_None)]`` over one corpus."""
    import torch

    from anatomy_vlm.knowledge.index import KnowledgeIndex, exact_search

    tensor = torch.from_numpy(corpus)
    methods = [("numpy brute force", 0.0, lambda q: exact_search(corpus, q, K)[1], None),
               ("torch brute force", 0.0, lambda q: torch.topk(torch.from_numpy(q) @ tensor.T, K).indices.numpy(), None)]
    ids = [str(i) for i in range(len(corpus))]
    kinds = [("flat", {}), ("ivf", {"nlist": ivf_nlist, "train_size": 40 * ivf_nlist})]
    if hnsw:
        kinds.append(("hnsw", {"hnsw_m": 16, "ef_search": 64}))
    for kind, kwargs in kinds:
        start = time.perf_counter()
        index = KnowledgeIndex.build(corpus, ids, kind=kind, normalize=False, **kwargs)
        build = time.perf_counter() - start
        search = index.faiss_index  # raw FAISS rows: no id translation inside the timing
        if kind == "ivf":
            for nprobe in nprobes:
                methods.append((f"faiss ivf{ivf_nlist} nprobe={nprobe}", build, _ivf_search(index, search, nprobe), index))
        else:
            methods.append((f"faiss {kind}", build, lambda q, s=search: s.search(q, K)[1], index))
    return methods


def _ivf_search(index, search, nprobe: int):
    def run(queries: np.ndarray) -> np.ndarray:
        index.set_nprobe(nprobe)
        return search.search(queries, K)[1]

    return run


def bench_corpus(name: str, corpus: np.ndarray, queries: np.ndarray, *, passes: int, ivf_nlist: int,
                 nprobes: tuple[int, ...], hnsw: bool) -> dict:
    """All methods on one corpus: recall@10 vs numpy exact, latency per batch of ``BATCH``, QPS."""
    batches = [queries[i:i + BATCH] for i in range(0, len(queries), BATCH)]
    rows = []
    exact = None
    for method, build, search, _ in _methods(corpus, ivf_nlist=ivf_nlist, nprobes=nprobes, hnsw=hnsw):
        seconds, outputs = _timed(search, batches, passes)
        found = np.concatenate(outputs)
        exact = found if exact is None else exact  # numpy brute force runs first
        rows.append({"method": method, "build_s": round(build, 2), "recall_at_10": _recall(found, exact),
                     **_latency(seconds, BATCH)})
        print(f"  {name:>10} {method:<28} recall@10={rows[-1]['recall_at_10']:.3f} "
              f"p50={rows[-1]['p50_ms']:.2f} ms qps={rows[-1]['qps']:.0f} build={build:.1f}s", flush=True)
    return {"corpus": name, "n": int(len(corpus)), "dim": int(corpus.shape[1]), "queries": int(len(queries)),
            "batch": BATCH, "methods": rows}


def synthetic(base: np.ndarray, n: int, *, seed: int, noise: float = 1.0) -> np.ndarray:
    """``[n, D]`` unit vectors: mixtures of two random real embeddings plus Gaussian noise (float32)."""
    rng = np.random.default_rng(seed)
    out = np.empty((n, base.shape[1]), dtype=np.float32)
    for start in range(0, n, 100_000):
        m = min(100_000, n - start)
        a, b = rng.integers(0, len(base), m), rng.integers(0, len(base), m)
        w = rng.uniform(0.0, 0.5, (m, 1)).astype(np.float32)
        block = (1 - w) * base[a] + w * base[b]
        block += noise * rng.standard_normal(block.shape, dtype=np.float32) / np.sqrt(base.shape[1])
        out[start:start + m] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return out


def bench_link_prediction(graph, *, seed: int = 0) -> dict:
    """Train the encoder on the KG's training edges; held-out test metrics for GNN and text baseline."""
    from anatomy_vlm.knowledge.gnn import build_encoder
    from anatomy_vlm.knowledge.train import (
        TrainConfig,
        evaluate_links,
        gnn_scorer,
        split_links,
        text_baseline_scorer,
        train_link_prediction,
    )

    split = split_links(graph.data, seed=seed)
    encoder, decoder = build_encoder(graph.data, target_edge_types=split.target_edge_types, preset="kg")
    config = TrainConfig.preset("kg", seed=seed)
    start = time.perf_counter()
    result = train_link_prediction(encoder, decoder, split, config=config)
    train_s = time.perf_counter() - start
    gnn = evaluate_links(gnn_scorer(encoder, decoder, split.message_graph), split)
    text = evaluate_links(text_baseline_scorer(split.message_graph), split)
    steps = np.asarray(result.step_seconds) * 1000
    return {
        "split": {"test_edges": gnn.n_edges, "val_edges": sum(e.shape[1] for e in split.val.values()),
                  "train_edges": sum(e.shape[1] for e in split.train.values())},
        "config": {**vars(config), **{k: v for k, v in vars(encoder.config).items() if k.endswith("dim") or k in ("num_layers", "dropout")}},
        "parameters": sum(p.numel() for p in encoder.parameters()) + sum(p.numel() for p in decoder.parameters()),
        "train_seconds": round(train_s, 2), "train_step_ms": {"p50": round(float(np.median(steps)), 1),
                                                            "p95": round(float(np.percentile(steps, 95)), 1)},
        "loss_first_last": [round(result.losses[0], 4), round(result.losses[-1], 4)],
        "gnn": _metrics_json(gnn), "text_baseline": _metrics_json(text),
    }, encoder


def _metrics_json(metrics) -> dict:
    return {"auroc": round(metrics.auroc, 4), "hits_at_10": round(metrics.hits_at_10, 4), "mrr": round(metrics.mrr, 4),
            "n_edges": metrics.n_edges,
            "per_edge_type": {k: {m: round(v, 4) if isinstance(v, float) else v for m, v in d.items()}
                              for k, d in metrics.per_edge_type.items()}}


def prompt_queries(kg, encoder, n: int, *, seed: int) -> tuple[np.ndarray, list[str]]:
    """Encoded graph-enriched prompts ("<region>: <finding> — …") for ``n`` random core × cig29 pairs."""
    from kg import finding_set, region_set

    pairs = [(f, r) for f in finding_set("core").ids for r in region_set("cig29").ids]
    chosen = np.random.default_rng(seed).permutation(len(pairs))[:n]
    findings = [pairs[i][0] for i in chosen]
    return encoder.encode([kg.prompt(pairs[i][0], pairs[i][1]) for i in chosen]), findings


def bench_kg_retrieval(kg, embeddings, *, seed: int) -> dict:
    """Real KG: prompts → node text embeddings, all methods; plus how often the prompt's finding is in the top 10."""
    from anatomy_vlm.knowledge.index import KnowledgeIndex
    from anatomy_vlm.knowledge.text_encoder import TextEncoder

    queries, findings = prompt_queries(kg, TextEncoder(), 256, seed=seed)
    result = bench_corpus("kg nodes", np.ascontiguousarray(embeddings.vectors), queries, passes=20,
                          ivf_nlist=10, nprobes=(1, 3, 10), hnsw=True)
    types = [kg.node(i).type for i in embeddings.ids]
    index = KnowledgeIndex.build(embeddings.vectors, list(embeddings.ids), types=types, kg_version=kg.version)
    _, top_any = index.search(queries, K)
    _, top_findings = index.search(queries, K, types=("finding", "disease", "device"))
    result["prompt_finding_in_top10"] = {
        "all_nodes": round(float(np.mean([f in row for f, row in zip(findings, top_any, strict=True)])), 4),
        "finding_disease_device_only": round(float(np.mean([f in row for f, row in zip(findings, top_findings, strict=True)])), 4),
    }
    return result


def markdown(payload: dict) -> str:
    lp = payload["link_prediction"]
    lines = ["# Knowledge encoder and retrieval", "",
             f"Machine: {payload['machine']['cpu']} ({payload['machine']['cores']} cores), "
             f"{payload['threads']} thread(s) for torch/FAISS/BLAS; total {payload['total_seconds']} s; "
             f"1-min load average {payload['load_average_1m']['start']} → {payload['load_average_1m']['end']} "
             "(shared machine: latencies include time-slicing by other processes).", "",
             "## Link prediction on held-out KG edges (filtered ranking over all nodes of the target type)", "",
             f"{lp['split']['test_edges']} test edges; train {lp['train_seconds']} s, "
             f"step p50 {lp['train_step_ms']['p50']} ms (p95 {lp['train_step_ms']['p95']}), "
             f"{lp['parameters']:,} parameters.", "",
             "| scorer | AUROC | Hits@10 | MRR |", "|---|---|---|---|"]
    for name in ("gnn", "text_baseline"):
        m = lp[name]
        lines.append(f"| {name} | {m['auroc']:.3f} | {m['hits_at_10']:.3f} | {m['mrr']:.3f} |")
    lines += ["", "| edge type | n | GNN AUROC | text AUROC | GNN Hits@10 | text Hits@10 |", "|---|---|---|---|---|---|"]
    for et, g in lp["gnn"]["per_edge_type"].items():
        t = lp["text_baseline"]["per_edge_type"][et]
        lines.append(f"| {et} | {g['n_edges']} | {g['auroc']:.3f} | {t['auroc']:.3f} | {g['hits_at_10']:.3f} | {t['hits_at_10']:.3f} |")
    for corpus in payload["retrieval"]:
        lines += ["", f"## Retrieval: {corpus['corpus']} ({corpus['n']:,} × {corpus['dim']}, "
                      f"{corpus['queries']} queries in batches of {corpus['batch']})", "",
                  "| method | recall@10 vs exact | p50 ms/batch | p95 ms/batch | QPS | build s |", "|---|---|---|---|---|---|"]
        for m in corpus["methods"]:
            lines.append(f"| {m['method']} | {m['recall_at_10']:.3f} | {m['p50_ms']:.2f} | {m['p95_ms']:.2f} | {m['qps']:,.0f} | {m['build_s']} |")
        if "prompt_finding_in_top10" in corpus:
            lines += ["", f"Prompt's finding among the top 10 (flat): {corpus['prompt_finding_in_top10']}"]
    return "\n".join(lines) + "\n"


def _blas_threads(n: int):
    """Limit numpy's BLAS pool to ``n`` threads (threadpoolctl, when installed)."""
    import contextlib

    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(n)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000", help="synthetic corpus sizes (comma-separated)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch/FAISS/BLAS threads (1: on a shared 2-core box, 2 OpenMP threads stall on each other)")
    parser.add_argument("--queries", type=int, default=128, help="held-out synthetic queries")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import faiss
    import torch

    from anatomy_vlm.knowledge.node_features import kg_hetero_data
    from anatomy_vlm.knowledge.text_encoder import node_text_embeddings
    from kg import AnatomyKG

    torch.set_num_threads(args.threads)
    faiss.omp_set_num_threads(args.threads)
    started, load_before = time.perf_counter(), os.getloadavg()
    with _blas_threads(args.threads):
        kg = AnatomyKG.load()
        start = time.perf_counter()
        embeddings = node_text_embeddings(kg)
        embed_s = time.perf_counter() - start
        graph = kg_hetero_data(kg, embeddings=embeddings)
        print("link prediction …", flush=True)
        link, _ = bench_link_prediction(graph, seed=args.seed)
        print(f"  gnn {link['gnn']['auroc']:.3f}/{link['gnn']['hits_at_10']:.3f}  text "
              f"{link['text_baseline']['auroc']:.3f}/{link['text_baseline']['hits_at_10']:.3f}", flush=True)
        retrieval = [bench_kg_retrieval(kg, embeddings, seed=args.seed)]
        for n in [int(s) for s in args.sizes.split(",") if s]:
            corpus = synthetic(embeddings.vectors, n, seed=args.seed + 1)
            queries = synthetic(embeddings.vectors, args.queries, seed=args.seed + 2)
            nlist = int(np.sqrt(n))
            retrieval.append(bench_corpus(f"synthetic {n // 1000}k", corpus, queries, passes=3 if n <= 200_000 else 1,
                                          ivf_nlist=nlist, nprobes=(1, 8, 32), hnsw=n <= 200_000))
            del corpus
    payload = {"threads": args.threads, "total_seconds": round(time.perf_counter() - started, 1),
               "load_average_1m": {"start": round(load_before[0], 2), "end": round(os.getloadavg()[0], 2)},
               "kg_version": kg.version, "kg_nodes": len(embeddings.ids), "text_model": embeddings.model_name,
               "node_text_embedding_seconds": round(embed_s, 2), "faiss": faiss.__version__,
               "faiss_gpus": faiss.get_num_gpus(), "link_prediction": link, "retrieval": retrieval}
    from benchmarks._machine import machine

    payload["machine"] = machine()
    out = write_result("retrieval", payload, markdown=markdown(payload))
    print(f"wrote {out} in {payload['total_seconds']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
