"""Fuzz advlab's loaders: 10,000+ mutated inputs, each in a memory-capped, time-limited
worker process; counts by outcome.

Inputs (``benchmarks/fuzzcases.py``): dataset artifacts, checkpoint folders,
Fashion-MNIST IDX folders and released ``CIFAR_ims`` / ``CIFAR_lab`` folders, each
damaged by one (sometimes two) mutations; malicious pickle payloads in 10 wrappings
planted in place of 7 kinds of file (``benchmarks/fuzzpayloads.py``); and the 1.5 MB
``.gz`` that inflates to 1.5 GiB. Oracle (``benchmarks/fuzzcheck.py``): every case must
end in a one-line AdvlabError or in data an independent reader confirms.

Workers cap their address space at (their size after imports + ``--mem-mib``) with
``resource.setrlimit(RLIMIT_AS)``; a case running past ``--time-limit`` seconds is
killed and counted as a hang; a worker that dies is counted as a crash. Marker files
of the payloads must never appear (a control run of each payload through the unsafe
reader shows the payloads are live).

    .venv/bin/python benchmarks/fuzz.py [--cases 10000] [--workers 2] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import sys
import tempfile
import time
import zlib
from collections import Counter, defaultdict
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

RESULTS = Path(__file__).resolve().parent / "results" / "fuzz.json"
OK = ("clean_error", "correct_data", "mixed")


def vm_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    return 0


def run_spec(spec: dict[str, Any], root: Path, markers: Path) -> tuple[str, str, str]:
    """Build and judge one case in this process: (outcome, what was done, detail)."""
    import fuzzcases
    import fuzzpayloads
    from fuzzcheck import judge

    case_root = root / f"c{spec['id']}"
    try:
        if spec["kind"] == "mutation":
            d, what = fuzzcases.build_case(spec["fmt"], spec["mutator"], spec["seed"], case_root)
            outcome, detail = judge(spec["fmt"], d, long_name="fs:longname" in what)
        elif spec["kind"] == "payload":
            kind, wrapping, target = spec["payload"]
            fmt = fuzzpayloads.TARGETS[target]
            d = fuzzcases.seed_folder(fmt, random.Random(spec["seed"]), case_root)
            blob = fuzzpayloads.wrap(fuzzpayloads.payload(kind, markers / f"advlab-{spec['id']}"), wrapping)
            fuzzpayloads.plant(d, target, blob)
            what = f"payload:{kind}:{wrapping}:{target}"
            outcome, detail = judge(fmt, d)
        elif spec["kind"] == "control":
            kind, wrapping = spec["payload"]
            marker = markers.parent / "control" / f"control-{spec['id']}"
            fuzzpayloads.control(fuzzpayloads.wrap(fuzzpayloads.payload(kind, marker), wrapping), wrapping)
            return ("fired" if marker.exists() else "silent"), f"control:{kind}:{wrapping}", ""
        else:  # the 1.5 GiB gz bomb, hard-linked into an IDX folder
            d = fuzzcases.seed_folder("idx", random.Random(spec["seed"]), case_root)
            target = next(d.glob("train-images-idx3-ubyte*"))
            target.unlink()
            os.link(spec["bomb"], d / "train-images-idx3-ubyte.gz")
            what = f"bomb:{Path(spec['bomb']).name}"
            outcome, detail = judge("idx", d)
    finally:
        fuzzcases.cleanup(case_root)
    return outcome, what, detail


def worker(conn: Connection, root: str, markers: str, mem_bytes: int) -> None:
    import torch

    torch.set_num_threads(1)
    import fuzzcheck  # noqa: F401

    import advlab.data  # noqa: F401 - imported before the cap is set
    import advlab.models.checkpoint  # noqa: F401

    cap = vm_size() + mem_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    while True:
        spec = conn.recv()
        if spec is None:
            return
        t = time.perf_counter()
        try:
            outcome, what, detail = run_spec(spec, Path(root), Path(markers))
        except BaseException as e:  # noqa: BLE001 - anything escaping the oracle itself
            outcome, what, detail = "other", spec.get("mutator", spec["kind"]), f"harness: {type(e).__name__}: {e}"[:300]
        conn.send((outcome, what, detail, time.perf_counter() - t))


class Pool:
    """Workers fed one case at a time; a case past the time limit kills its worker."""

    def __init__(self, n: int, root: Path, markers: Path, mem_bytes: int, limit_s: float) -> None:
        self.ctx = mp.get_context("spawn")
        self.args = (str(root), str(markers), mem_bytes)
        self.limit_s = limit_s
        self.slots: list[tuple[Any, Connection] | None] = [None] * n

    def _start(self, i: int) -> tuple[Any, Connection]:
        parent, child = self.ctx.Pipe()
        proc = self.ctx.Process(target=worker, args=(child, *self.args), daemon=True)
        proc.start()
        self.slots[i] = (proc, parent)
        return proc, parent

    def run(self, specs: list[dict[str, Any]], on_result: Any) -> None:
        pending = list(reversed(specs))
        busy: dict[int, tuple[dict[str, Any], float]] = {}
        while pending or busy:
            for i in range(len(self.slots)):
                if i not in busy and pending:
                    proc, conn = self.slots[i] or self._start(i)
                    spec = pending.pop()
                    conn.send(spec)
                    busy[i] = (spec, time.monotonic())
            for i, (spec, t0) in list(busy.items()):
                proc, conn = self.slots[i]  # type: ignore[misc]
                waited = time.monotonic() - t0
                if conn.poll(0.002):
                    try:
                        on_result(spec, *conn.recv())
                    except EOFError:
                        on_result(spec, "crash", spec["kind"], f"worker died (exit {proc.exitcode})", waited)
                        self.slots[i] = None
                    del busy[i]
                elif not proc.is_alive() or waited > self.limit_s:
                    outcome = "hang" if proc.is_alive() else "crash"
                    proc.kill()
                    proc.join()
                    on_result(spec, outcome, spec["kind"], f"after {waited:.1f} s (exit {proc.exitcode})", waited)
                    self.slots[i] = None
                    del busy[i]

    def close(self) -> None:
        for slot in self.slots:
            if slot is not None:
                slot[1].send(None)
                slot[0].join(timeout=10)


def make_bomb(path: Path, dims: tuple[int, ...], total: int) -> None:
    """An IDX .gz whose header says ``dims`` and whose stream inflates to ``total`` bytes."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    head = bytes([0, 0, 8, len(dims)]) + b"".join(d.to_bytes(4, "big") for d in dims)
    zeros = bytes(1 << 20)
    with open(path, "wb") as f:
        f.write(comp.compress(head))
        for _ in range((total - len(head)) >> 20):
            f.write(comp.compress(zeros))
        f.write(comp.flush())


def plan(n: int, seed: int, bombs: list[Path]) -> list[dict[str, Any]]:
    """The case list: bombs, payloads with their controls, then mutations to ``n`` in all."""
    import fuzzcases
    import fuzzpayloads

    rng = random.Random(seed)
    specs: list[dict[str, Any]] = [{"kind": "bomb", "bomb": str(b), "seed": rng.randrange(2**31)} for b in bombs]
    for c in fuzzpayloads.CALLABLES:
        for w in fuzzpayloads.WRAPPINGS:
            specs.append({"kind": "control", "payload": (c, w), "seed": 0})
    for p in fuzzpayloads.cases():
        specs.append({"kind": "payload", "payload": p, "seed": rng.randrange(2**31)})
    n_mut = max(0, n - sum(s["kind"] != "control" for s in specs))
    for _ in range(n_mut):
        fmt = rng.choice(fuzzcases.FORMATS)
        specs.append({"kind": "mutation", "fmt": fmt, "mutator": rng.choice(fuzzcases.APPLIES[fmt]),
                      "seed": rng.randrange(2**31)})
    for i, s in enumerate(specs):
        s["id"] = i
    return specs


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=10_000, help="cases besides the payload controls")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=30.0, help="seconds per case")
    ap.add_argument("--mem-mib", type=int, default=1024, help="address space per worker beyond its imports")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="advlab-fuzz-") as tmp:
        root, markers = Path(tmp) / "cases", Path(tmp) / "markers"
        for p in (root, markers, Path(tmp) / "control"):
            p.mkdir()
        bombs = [Path(tmp) / "bomb-header-47MB.gz", Path(tmp) / "bomb-header-1.5GiB.gz"]
        make_bomb(bombs[0], (60000, 28, 28), 1536 << 20)  # header 47 MB, stream 1.5 GiB
        make_bomb(bombs[1], (2048, 1024, 768), 1536 << 20)  # header and stream 1.5 GiB
        bomb_sizes = {b.name: b.stat().st_size for b in bombs}
        specs = plan(args.cases, args.seed, bombs)
        counts: Counter[str] = Counter()
        by: dict[str, Counter[str]] = defaultdict(Counter)
        failures: list[dict[str, Any]] = []
        examples: dict[str, str] = {}
        controls: Counter[str] = Counter()
        bombs_seen: list[dict[str, Any]] = []
        slowest = [0.0, ""]

        def on_result(spec: dict[str, Any], outcome: str, what: str, detail: str, seconds: float) -> None:
            if spec["kind"] == "control":
                controls[outcome] += 1
                return
            if spec["kind"] == "bomb":
                bombs_seen.append({"file": Path(spec["bomb"]).name, "outcome": outcome, "detail": detail,
                                   "seconds": round(seconds, 2)})
            key = spec.get("fmt") or spec["kind"]
            counts[outcome] += 1
            by[f"{spec['kind']}:{key}"][outcome] += 1
            by[f"mutator:{spec.get('mutator', spec['kind'])}"][outcome] += 1
            if outcome not in OK:
                failures.append({"id": spec["id"], "spec": spec, "outcome": outcome, "what": what, "detail": detail})
            elif outcome == "clean_error" and what.split(":")[0] not in examples:
                examples[what.split(":")[0]] = detail[:240]
            if seconds > slowest[0]:
                slowest[:] = [seconds, what]
            done = sum(counts.values())
            if done % 1000 == 0:
                print(f"{done} cases: {dict(counts)}", file=sys.stderr, flush=True)

        pool = Pool(args.workers, root, markers, args.mem_mib << 20, args.time_limit)
        try:
            pool.run(specs, on_result)
        finally:
            pool.close()
        leaked = sorted(p.name for p in markers.iterdir())
    report = {
        "command": "python benchmarks/fuzz.py " + " ".join(sys.argv[1:]),
        "cases": sum(counts.values()), "outcomes": dict(counts),
        "acceptable": sum(counts[o] for o in OK), "not_acceptable": sum(v for k, v in counts.items() if k not in OK),
        "by": {k: dict(v) for k, v in sorted(by.items())},
        "payloads": {"cases": by_kind(by, "payload"), "markers_created_by_advlab": len(leaked),
                     "leaked": leaked, "controls": dict(controls)},
        "bombs": {"sizes": bomb_sizes, "results": bombs_seen},
        "max_worker_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss >> 10, "limits": {"time_s_per_case": args.time_limit, "memory_cap_mib_beyond_imports": args.mem_mib},
        "workers": args.workers, "seed": args.seed, "wall_s": round(time.perf_counter() - t0, 1),
        "slowest_case": {"seconds": round(slowest[0], 2), "what": slowest[1]},
        "failures": failures[:200], "examples": examples,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=1) + "\n")
    print(json.dumps({k: report[k] for k in ("cases", "outcomes", "acceptable", "not_acceptable", "payloads",
                                             "wall_s", "slowest_case")}, indent=1))
    print(f"wrote {args.out}")


def by_kind(by: dict[str, Counter[str]], kind: str) -> int:
    return sum(sum(v.values()) for k, v in by.items() if k.startswith(kind + ":"))


if __name__ == "__main__":
    main()
