"""Write tests/data/demo_verdicts.json from the demo as it is judged now.

Run it deliberately, when a change of the verdict's JSON shape or of the shipped
thresholds is intended, and say so in the commit:

    python tests/data/regenerate_demo_verdicts.py
"""
from __future__ import annotations

import json
from pathlib import Path

from packcheck.apps.checker import Checker
from packcheck.store.dataset import iter_orders

ROOT = Path(__file__).resolve().parents[2]


def main() -> None:
    checker = Checker.open(ROOT / "sample_data")
    out = {}
    for order_id in sorted(o.order_id for o in iter_orders(checker.root, checker.catalogue)):
        d = checker.check_id(order_id).to_dict()
        out[order_id] = {
            "keys": list(d), "status": d["status"], "reasons": list(d["reasons"]), "meta": list(d["meta"]),
            "checks": [{"check": c["check"], "status": c["status"], "reason": c["reason"], "keys": list(c),
                        "details": list(c["details"])} for c in d["checks"]],
        }
    path = Path(__file__).parent / "demo_verdicts.json"
    path.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {path} ({len(out)} orders)")


if __name__ == "__main__":
    main()
