#!/usr/bin/env python3
"""Put benchmark JSON lines side by side as a Markdown table.

    /usr/bin/python3 bench/torch_bench.py > /tmp/torch.jsonl
    <ts bench> > /tmp/ts.jsonl
    python3 bench/compare.py /tmp/torch.jsonl /tmp/ts.jsonl     # or: cat ... | python3 bench/compare.py

Each input line is one JSON object with at least "impl" and "size", and any of
"train_seq_per_s", "infer_seq_per_s", "train_step_ms_median", "infer_ms_median",
"peak_rss_mb", "threads". Lines that are not JSON objects, and lines with
"candidate": true (extra thread settings from --all-candidates), are skipped.
The "x pytorch" columns give throughput relative to the "pytorch" row of the
same size (above 1 = faster than PyTorch). Standard library only.
"""

import json
import sys

ORDER = {"tiny": 0, "mini": 1, "small": 2, "medium": 3, "base": 4, "large": 5}


def read(paths):
    rows = []
    streams = [open(p) for p in paths] if paths else [sys.stdin]
    for f in streams:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            try:
                r = json.loads(line)
            except ValueError:
                continue
            if isinstance(r, dict) and "impl" in r and "size" in r and not r.get("candidate"):
                rows.append(r)
    return rows


def fmt(v, nd=1):
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{nd}f}"
    return str(v)


def main():
    rows = read(sys.argv[1:])
    if not rows:
        print("no benchmark rows found", file=sys.stderr)
        return 1
    ref = {r["size"]: r for r in rows if r["impl"] == "pytorch"}
    rows.sort(key=lambda r: (ORDER.get(r["size"], 99), r["size"], r["impl"] != "pytorch", r["impl"]))
    head = [
        "size", "impl", "threads", "train seq/s", "x pytorch", "train ms/step",
        "infer seq/s", "x pytorch", "infer ms/batch", "peak RSS MB",
    ]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for r in rows:
        p = ref.get(r["size"])

        def ratio(key):
            a, b = r.get(key), (p or {}).get(key)
            return f"{a / b:.2f}" if a and b else "-"

        print("| " + " | ".join([
            r["size"], r["impl"], fmt(r.get("threads")),
            fmt(r.get("train_seq_per_s")), ratio("train_seq_per_s"), fmt(r.get("train_step_ms_median")),
            fmt(r.get("infer_seq_per_s")), ratio("infer_seq_per_s"), fmt(r.get("infer_ms_median")),
            fmt(r.get("peak_rss_mb"), 0),
        ]) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
