"""Summarise a py-spy raw (collapsed) profile: inclusive and self % per function, optionally filtered.

.venv/bin/py-spy record -p NODE_PID -d 20 -r 200 -f raw -o /tmp/prof.txt
.venv/bin/python bench/profile_top.py /tmp/prof.txt --top 40 --only node/,common/
"""

from __future__ import annotations

import argparse
import re
from collections import Counter

FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def short(frame: str, with_line: bool) -> str:
    m = FRAME.match(frame.strip())
    if not m:
        return frame.strip()
    path = m["file"]
    for marker in ("site-packages/", "/work/main/", "lib/python3"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{path}:{m['func']}" + (f":{m['line']}" if with_line and m["line"] else "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("raw")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--only", default="", help="comma-separated path fragments to keep in the listing")
    ap.add_argument("--lines", action="store_true", help="keep line numbers (distinguish call sites)")
    ap.add_argument(
        "--idle",
        default="hub.py:switch,_socketcommon.py:_wait,hub.py:wait",
        help="leaf frames counted as idle (excluded from the busy total)",
    )
    args = ap.parse_args()
    inclusive: Counter[str] = Counter()
    self_: Counter[str] = Counter()
    total = idle = 0
    idle_marks = [s for s in args.idle.split(",") if s]
    with open(args.raw) as fh:
        for line in fh:
            stack, _, count = line.rstrip("\n").rpartition(" ")
            if not stack:
                continue
            n = int(count)
            frames = [short(f, args.lines) for f in stack.split(";") if f.strip()]
            if frames and any(frames[-1].endswith(m) or m in frames[-1] for m in idle_marks):
                idle += n
                continue
            total += n
            for f in set(frames):
                inclusive[f] += n
            if frames:
                self_[frames[-1]] += n
    keep = [s for s in args.only.split(",") if s]
    print(f"busy samples {total} (idle {idle}); % of busy samples")
    print(f"{'incl%':>6} {'self%':>6}  function")
    shown = 0
    for f, n in inclusive.most_common():
        if keep and not any(k in f for k in keep):
            continue
        print(f"{100 * n / total:6.1f} {100 * self_[f] / total:6.1f}  {f}")
        shown += 1
        if shown >= args.top:
            break
    print("\nself time, top:")
    for f, n in self_.most_common(args.top):
        print(f"{100 * n / total:6.1f}  {f}")


if __name__ == "__main__":
    main()
