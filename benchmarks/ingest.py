"""Ingest throughput and peak memory beside a bare pyarrow write of the same bytes.

Generates N MB of distinct text files (default 1100 MB, 1 MB each), then, each in a fresh
subprocess so peak RSS is its own, alternately runs:

* ``bare``:  read every file and write its text as one zstd Parquet string column with pyarrow
             (the floor: no cleaning, hashing, dedup or splits);
* ``arlm``:  ``arlm.data.ingest`` of the folder with the default config (cleaning, NFC, SHA-256
             doc ids, dedup, segmenting, hash splits, rolling zstd parts), default workers.

Prints a table: MB/s (input bytes / wall time), peak RSS (parent + largest worker), and the ratio
arlm / bare. Run::

    .venv/bin/python benchmarks/ingest.py [--mb 1100] [--repeats 2] [--keep DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

WORDS = (
    "the of and to in is was that for on with as by at from his her an which or were "
    "model token corpus data parquet reads writes counts predicts records splits trains "
    "river mountain city winter letter window garden morning evening history science "
    "quickly slowly never always often because however although therefore"
).split()


def generate(folder: Path, total_mb: int, file_mb: float = 1.0, seed: int = 0) -> int:
    rng = random.Random(seed)
    lines = [" ".join(rng.choices(WORDS, k=rng.randint(6, 18))).capitalize() + "." for _ in range(50_000)]
    avg = sum(len(x) + 1 for x in lines) / len(lines)
    per_file = int(file_mb * 1e6 / avg)
    folder.mkdir(parents=True, exist_ok=True)
    n = 0
    for i in range(int(total_mb / file_mb)):
        body = f"Document {i}.\n" + "\n".join(rng.choices(lines, k=per_file)) + "\n"
        data = body.encode()
        (folder / f"{i // 100:03d}").mkdir(exist_ok=True)
        (folder / f"{i // 100:03d}" / f"doc{i:05d}.txt").write_bytes(data)
        n += len(data)
    return n


BARE = r"""
import json, os, resource, sys, time
from pathlib import Path
import pyarrow as pa, pyarrow.parquet as pq
src, out = Path(sys.argv[1]), Path(sys.argv[2])
t0 = time.perf_counter()
files = sorted(p for p in src.rglob("*.txt"))
schema = pa.schema([("text", pa.string())])
w = pq.ParquetWriter(out / "bare.parquet", schema, compression="zstd")
buf, size, total = [], 0, 0
for p in files:
    t = p.read_bytes().decode("utf-8")
    buf.append(t); size += len(t); total += p.stat().st_size
    if size >= 32 << 20:
        w.write_table(pa.table({"text": buf}, schema=schema)); buf, size = [], 0
if buf:
    w.write_table(pa.table({"text": buf}, schema=schema))
w.close()
dt = time.perf_counter() - t0
print(json.dumps({"seconds": dt, "bytes": total,
                  "cpu_s": sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime
                               for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)),
                  "rss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                  "rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""

ARLM = r"""
import json, resource, sys, time
from arlm.data import IngestConfig, ingest
from arlm.home import get_home
if __name__ == "__main__":
    src, home = sys.argv[1], get_home(sys.argv[2])
    t0 = time.perf_counter()
    cv = ingest(IngestConfig(corpus=src), home)
    dt = time.perf_counter() - t0
    print(json.dumps({"seconds": dt, "bytes": cv.stats["n_input_bytes"], "n_docs": cv.stats["n_docs"],
                      "backend": cv.stats["backend"], "workers": cv.stats["workers"],
                      "out_bytes": sum(p.stat().st_size for fs in cv.files.values() for p in fs),
                      "cpu_s": sum(resource.getrusage(w).ru_utime + resource.getrusage(w).ru_stime
                                   for w in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN)),
                      "rss_self_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
                      "rss_children_kb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}))
"""


def run(code: str, *args: str) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as f:
        f.write(code)
    try:
        out = subprocess.run([sys.executable, f.name, *args], capture_output=True, text=True, check=False)
    finally:
        os.unlink(f.name)
    if out.returncode != 0:
        raise SystemExit(out.stderr[-3000:])
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=1100, help="MB of generated text (default 1100)")
    ap.add_argument("--repeats", type=int, default=2, help="alternating runs of each side; best kept")
    ap.add_argument("--keep", default=None, help="generate into / reuse this folder")
    args = ap.parse_args()
    work = Path(args.keep or tempfile.mkdtemp(prefix="arlm-bench-ingest-"))
    src = work / "src"
    try:
        if not src.exists():
            t = time.perf_counter()
            n = generate(src, args.mb)
            print(
                f"generated {n / 1e6:,.0f} MB in {len(list(src.rglob('*.txt'))):,} files "
                f"({time.perf_counter() - t:.0f} s)",
                file=sys.stderr,
            )
        results: dict[str, list[dict]] = {"bare": [], "arlm": []}
        for r in range(args.repeats):
            for side in ("bare", "arlm"):
                out = work / f"out-{side}-{r}"
                out.mkdir(parents=True, exist_ok=True)
                res = run(BARE if side == "bare" else ARLM, str(src), str(out))
                res["mb_s"] = res["bytes"] / 1e6 / res["seconds"]
                res["cpu_mb_s"] = res["bytes"] / 1e6 / res["cpu_s"]
                # ru_maxrss of children is the largest single worker: count it once per worker
                res["peak_mb"] = (res["rss_self_kb"] + res["rss_children_kb"] * max(1, res.get("workers", 1))) / 1024
                results[side].append(res)
                print(
                    f"run {r} {side}: {res['mb_s']:.1f} MB/s, {res['cpu_mb_s']:.1f} MB per CPU-s, "
                    f"peak {res['peak_mb']:.0f} MB",
                    file=sys.stderr,
                )
                shutil.rmtree(out, ignore_errors=True)
        best = {s: max(rs, key=lambda x: x["mb_s"]) for s, rs in results.items()}
        b, a = best["bare"], best["arlm"]
        print(
            f"\ninput: {b['bytes'] / 1e6:,.0f} MB of text files; {os.cpu_count()} CPUs; "
            f"load average {os.getloadavg()[0]:.1f}; best of {args.repeats} alternating runs\n"
        )
        print("| writer | MB/s (wall) | MB per CPU-second | peak RSS MB (parent + workers x largest worker) | notes |")
        print("| --- | ---: | ---: | ---: | --- |")
        print(
            f"| bare pyarrow (read + zstd Parquet, 1 process) | {b['mb_s']:.1f} | {b['cpu_mb_s']:.1f} | "
            f"{b['peak_mb']:.0f} | no cleaning |"
        )
        print(
            f"| arlm ingest ({a['backend']}, {a['workers']} workers) | {a['mb_s']:.1f} | {a['cpu_mb_s']:.1f} | "
            f"{a['peak_mb']:.0f} | {a['n_docs']:,} docs, {a['out_bytes'] / 1e6:,.0f} MB Parquet |"
        )
        print(
            f"| ratio arlm / bare | {a['mb_s'] / b['mb_s']:.2f} | {a['cpu_mb_s'] / b['cpu_mb_s']:.2f} | "
            f"{a['peak_mb'] / b['peak_mb']:.2f} | |"
        )
        print(
            "\nall runs (MB/s): "
            + "; ".join(f"{s}: " + ", ".join(f"{x['mb_s']:.1f}" for x in rs) for s, rs in results.items())
        )
        ratio = a["mb_s"] / b["mb_s"]
        ok = ratio >= 0.5 and a["peak_mb"] < 1024
        print(
            f"target: arlm / bare {ratio:.2f} (>= 0.5), arlm peak {a['peak_mb']:.0f} MB (< 1024) -> "
            f"{'PASS' if ok else 'FAIL'}"
        )
        return 0 if ok else 1
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
