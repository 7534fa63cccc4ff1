"""The agreement screen: how far a second coder's codings agree with yours, and the turns where
you differ, to settle one by one (take their coding, drop yours, or open the turn to recode)."""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.option_list import Option

from core.store import review
from core.analysis.agreement import Agreement, Disagreement, compare, drop_mine, kappa_text, share_text, take_theirs
from core.base.errors import UserError
from core.store.database import Store

from tui.widgets.keybar import KeyBar
from tui.widgets.palette import ScreenActions


class AgreementScreen(Screen):
    """Per dimension (or indicator) the turns each coder coded, the share of agreement and
    Cohen's kappa; below, every turn only one of you coded."""

    CSS_PATH = "review.tcss"
    COMMANDS = Screen.COMMANDS | {ScreenActions}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("t", "take", "Take theirs"),
        Binding("x", "drop", "Drop mine"),
        Binding("u", "undo", "Undo"),
        Binding("i", "toggle_level", "Indicators"),
        Binding("tab", "switch_pane", "Figures/turns", show=False),
    ]

    def __init__(self, store: Store, path: Path, *, coder: str | None = None, level: str = "dimension",
                 sessions: list[int] | None = None) -> None:
        super().__init__()
        self.store = store
        self.path = path
        self.coder = coder
        self.level = level
        self.sessions = sessions
        self.result: Agreement | None = None
        self.settled: list[int] = []  # the sessions of the edits made here, newest last, for undo

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="agreement-title", classes="pane-title")
        yield DataTable(id="figures", cursor_type="row", zebra_stripes=True)
        yield Static("", id="disagreements-title", classes="pane-title")
        yield OptionList(id="disagreements")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = "agreement"
        self.query_one("#disagreements", OptionList).focus()
        self.load()

    def on_screen_resume(self) -> None:
        # Back from the review screen, where the turn may have been coded again.
        if self.result is not None:
            self.load()

    # data ---------------------------------------------------------------------------------------

    def load(self) -> None:
        try:
            self.result = compare(self.store, self.path, coder=self.coder, sessions=self.sessions, level=self.level)
        except UserError as exc:
            self.notify(str(exc), severity="error", timeout=10)
            return
        # From now on only the sessions the project holds are read again (a study's others are not).
        self.sessions = [sid for sid, _ in self.result.sessions]
        self._fill()

    def _fill(self) -> None:
        r = self.result
        self.query_one("#agreement-title", Static).update(
            f"Your codings and {r.coder}'s in {r.path.name} · {len(r.sessions)} sessions · {r.turns} turns · "
            f"agreement {share_text(r.pooled_agreement)}, kappa {kappa_text(r.pooled_kappa)} (pooled)"
        )
        table = self.query_one(DataTable)
        keep = table.cursor_row
        table.clear(columns=True)
        table.add_column(self.level.capitalize(), key="category")
        for name in ("here", "there", "both", "agree", "kappa"):
            table.add_column(name, key=name)
        for d in r.categories:
            table.add_row(d.label, d.here, d.there, d.both, share_text(d.agreement), kappa_text(d.kappa))
        here, there, both = r.totals
        table.add_row(Text("all (pooled)", style="bold"), here, there, both, share_text(r.pooled_agreement),
                      kappa_text(r.pooled_kappa))
        if keep < table.row_count:
            table.move_cursor(row=keep)

        options = self.query_one("#disagreements", OptionList)
        kept = options.highlighted
        options.clear_options()
        for n, x in enumerate(r.disagreements):
            who = "coded here only" if x.coded_by == "here" else f"coded by {x.coded_by} only"
            at = f" {x.time}" if x.time else ""
            line = Text()
            line.append(f"session {x.session_id}, turn {x.turn}{at} · ", style="dim")
            line.append(x.category, style="bold")
            line.append(f" · {who}\n")
            line.append(f"{x.speaker}: ", style="dim")
            text = " ".join(x.text.split())
            line.append(text if len(text) <= 200 else text[:199] + "…")
            options.add_option(Option(line, id=str(n)))
        if r.disagreements:
            options.highlighted = min(kept or 0, len(r.disagreements) - 1)
        self.query_one("#disagreements-title", Static).update(
            f"{len(r.disagreements)} turns only one of you coded · t: take theirs · x: drop mine · "
            "Enter: open the turn · u: undo"
            if r.disagreements else "No turn that only one of you coded."
        )

    def current(self) -> Disagreement | None:
        options = self.query_one("#disagreements", OptionList)
        if self.result is None or options.highlighted is None or not self.result.disagreements:
            return None
        return self.result.disagreements[options.highlighted]

    # actions ------------------------------------------------------------------------------------

    def _settle(self, how) -> None:
        x = self.current()
        if x is None:
            return
        try:
            how(self.store, x)
        except UserError as exc:
            self.notify(str(exc), severity="warning")
            return
        self.settled.append(x.session_id)
        self.load()

    def action_take(self) -> None:
        self._settle(take_theirs)

    def action_drop(self) -> None:
        self._settle(drop_mine)

    def action_undo(self) -> None:
        if not self.settled:
            self.notify("nothing settled here to undo")
            return
        edit = review.undo(self.store, self.settled.pop())
        if edit is not None:
            self.notify(f"undone: {edit.label}")
        self.load()

    def action_toggle_level(self) -> None:
        self.level = "indicator" if self.level == "dimension" else "dimension"
        self.load()

    def action_switch_pane(self) -> None:
        figures, turns = self.query_one(DataTable), self.query_one("#disagreements", OptionList)
        (turns if figures.has_focus else figures).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    @on(OptionList.OptionSelected, "#disagreements")
    def turn_chosen(self, event: OptionList.OptionSelected) -> None:
        from tui.screens.review import ReviewScreen

        x = self.result.disagreements[int(event.option.id)]
        self.app.push_screen(ReviewScreen(self.store, x.session_id, select=x.segment_id))
