"""The coverage panel: which dimensions the respondent has spoken about, and the time left."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from core.understanding.coverage import Coverage
from core.interchange.export import clock


class CoveragePanel(VerticalScroll):
    """Per dimension: coded (●), confidently suggested (◐) or still open (○); below, the
    elapsed time against the plan and a warning when the questions left will not fit."""

    DEFAULT_CSS = """
    CoveragePanel {
        width: 34;
        border-left: solid $primary-darken-2;
        padding: 0 1;
    }
    CoveragePanel .coverage-title {
        text-style: bold;
        color: $accent;
        padding-bottom: 1;
    }
    CoveragePanel .coverage-warning {
        color: $error;
        text-style: bold;
        padding-top: 1;
    }
    CoveragePanel .coverage-warning.-none {
        display: none;
    }
    """

    def compose(self) -> ComposeResult:
        yield Static("Coverage", classes="coverage-title")
        yield Static(id="coverage-dimensions")
        yield Static(id="coverage-time")
        yield Static(id="coverage-warning", classes="coverage-warning -none")

    def show(self, cov: Coverage) -> None:
        self.coverage = cov
        lines = Text()
        for d in cov.dimensions:
            if d.coded:
                mark, style, note = "●", f"bold {d.colour}", f" {d.coded}"
            elif d.suggested:
                mark, style, note = "◐", d.colour, " ?"
            else:
                mark, style, note = "○", "dim", " · not asked yet" if not d.asked and d.questions else ""
            lines.append(f"{mark} ", style=style)
            lines.append(d.name, style="" if d.covered else "dim")
            lines.append(note + "\n", style="dim")
        open_count = len(cov.open)
        lines.append(f"\n{len(cov.dimensions) - open_count} of {len(cov.dimensions)} covered", style="bold")
        self.query_one("#coverage-dimensions", Static).update(lines)

        time = Text()
        elapsed = clock(cov.elapsed) if cov.elapsed is not None else "--:--"
        time.append(f"\n{elapsed} of {clock(cov.planned)}\n")
        time.append(f"{len(cov.remaining)} questions left, ~{cov.remaining_minutes:.0f} min", style="dim")
        self.query_one("#coverage-time", Static).update(time)

        warning = self.query_one("#coverage-warning", Static)
        warning.update(cov.warning or "")
        warning.set_class(cov.warning is None, "-none")
