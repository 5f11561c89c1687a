"""Governance review of risk arrays the scenario set's bounds held back: Markdown for a forum post,
written when the keeper publishes arrays short of their target because a row, a floor or a depth
lies outside what the set allows. A step held back by the set's rates is the rates working, and
reaches the target in later cycles; a value outside the bounds never will unless governance widens
them (`setScenarioSet`), so it is put in front of governance with what each row means.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from oracle.policy.arrays import MOVE_UNIT_BPS


def _pct(units: int) -> str:
    return f"{units * MOVE_UNIT_BPS / 100:+.1f} %"


def held_by_bounds(rows: Sequence[dict[str, Any]]) -> bool:
    """Whether any array was clamped by the set's bounds (not only stepped by its rates)."""
    return any("bounds" in note for r in rows for note in r["notes"])


def write_arrays_review(
    directory: Path, nonce: int, scenario_set: int, rows: Sequence[dict[str, Any]], when: str
) -> Path:
    """Writes `arrays-<nonce>.md`: per row, its meaning and each market's target against what was
    published, then every note; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    markets = [r["market"] for r in rows]
    labels = rows[0]["labels"] if rows else []
    lines = [
        f"# Risk arrays batch {nonce}: scenario set {scenario_set} holds values back",
        "",
        f"Published {when}. Some targets lie outside the scenario set's bounds, so the published",
        "arrays stop at them. Governance can widen the set (`setScenarioSet`, `oracle arrays`),",
        "or keep the bounds and accept the margins below the model's.",
        "",
        "| row | meaning | " + " | ".join(f"{m} target / published" for m in markets) + " |",
        "|---:|---|" + "---|" * len(markets),
    ]
    for s, label in enumerate(labels):
        cells = [f"{_pct(r['target']['moves'][s])} / {_pct(r['moves'][s])}" for r in rows]
        lines.append(f"| {s} | {label} | " + " | ".join(cells) + " |")
    floors = [
        f"{r['target']['floor_units'] * MOVE_UNIT_BPS / 100:.1f} % / "
        f"{r['floor_units'] * MOVE_UNIT_BPS / 100:.1f} %"
        for r in rows
    ]
    lines.append("| floor | least margin per unit of exposure | " + " | ".join(floors) + " |")
    lines += ["", "## Why the published values differ", ""]
    for r in rows:
        for note in r["notes"]:
            lines.append(f"- {r['market']}: {note}")
    path = directory / f"arrays-{nonce}.md"
    path.write_text("\n".join(lines) + "\n")
    return path
