"""Combine benchmark manifests into one, so one calibration covers several photo sets.

    python -m packcheck.tooling.calibration.combine OUT.csv MANIFEST.csv [MANIFEST.csv ...]

Class ids and coarse classes get a prefix per input (``m1-``, ``m2-``, ...), so
classes of different sets never count as siblings or lookalikes of each other;
paths are rewritten relative to OUT's folder. Pairs are then built within each
set exactly as ``packcheck bench accuracy`` builds them, plus wrong-item pairs
across sets.
"""
from __future__ import annotations

import csv
import os
import sys
from pathlib import Path

from ..evaluate import COLUMNS, read_manifest


def combine(out: Path, manifests: list[Path]) -> Path:
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    for n, path in enumerate(manifests, 1):
        read_manifest(path)  # validate first: a clear error names the bad file and row
        root = Path(path).parent
        with open(path, newline="", encoding="utf-8-sig") as f:
            for rec in csv.DictReader(f):
                rec = {k.strip().lower(): (v or "").strip() for k, v in rec.items()}
                target = os.path.relpath(root / rec["path"], out.parent)
                rows.append({"class_id": f"m{n}-{rec['class_id']}", "class_name": rec["class_name"],
                             "coarse_class": f"m{n}-{rec['coarse_class']}", "kind": rec["kind"], "path": target})
    with open(out, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(COLUMNS))
        w.writeheader()
        w.writerows(rows)
    return out


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2:
        sys.exit(__doc__.strip().splitlines()[2].strip())
    out = combine(Path(args[0]), [Path(a) for a in args[1:]])
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
