"""The comparison screen: coded passages per dimension (and indicator) against respondents or
cases; a cell opens its passages with what was said around them; a co-occurrence table whose
cells open the passages where two codes meet; memos on dimensions."""

from __future__ import annotations

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Header, OptionList, Static
from textual.widgets.option_list import Option
from textual.worker import Worker, WorkerState

from core.store import review
from core.analysis.compare import (
    Cooccurrence, Matrix, Passage, build_matrix, cooccurrence, cooccurring_passages, passages,
)
from core.base.errors import UserError
from core.interchange.export import clock
from core.store.database import Store

from tui.screens.dialogs import DimensionMemoDialog
from tui.widgets.keybar import KeyBar
from tui.widgets.palette import ScreenActions

TOTAL = "__total__"
SHOW_PASSAGES = 300


def _who(speaker: str | None) -> str:
    return "I" if speaker == "interviewer" else "R"


class CompareScreen(Screen):
    """The thesis's tables of factors per pilot and respondent, counted from the codings."""

    CSS_PATH = "review.tcss"
    COMMANDS = Screen.COMMANDS | {ScreenActions}
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("b", "toggle_by", "By respondent/case"),
        Binding("i", "toggle_indicators", "Indicators"),
        Binding("o", "toggle_cooccurrence", "Co-occurrence"),
        Binding("p", "code_passages", "All passages of code"),
        Binding("n", "dimension_memo", "Dimension memos"),
        Binding("tab", "switch_pane", "Matrix/passages", show=False),
    ]

    def __init__(self, store: Store, *, by: str = "respondent", guide_id: str | None = None) -> None:
        super().__init__()
        self.store = store
        self.by = by
        self.guide_id = guide_id
        self.matrix: Matrix | None = None
        self.co: Cooccurrence | None = None
        self.expanded: set[str] = set()
        self.all_indicators = False
        self.showing = "matrix"
        self.shown_passages: list[Passage] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static("", id="matrix-title", classes="pane-title")
        yield DataTable(id="matrix", cursor_type="cell", zebra_stripes=True)
        yield Static("Enter on a cell lists its passages; on a dimension's name, its indicators; "
                     "n: memos on the dimension.",
                     id="passages-title", classes="pane-title")
        yield OptionList(id="passages")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = "compare"
        self.query_one(DataTable).focus()
        self.load()

    # data ---------------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="matrix", exit_on_error=False)
    def load(self) -> None:
        store = Store.open_like(self.store)
        try:
            if self.showing == "matrix":
                result = build_matrix(store, self.by, guide_id=self.guide_id)
            else:
                result = cooccurrence(store, "dimension", guide_id=self.guide_id)
        finally:
            store.close()
        self.app.call_from_thread(self._loaded, result)

    def _loaded(self, result) -> None:
        if isinstance(result, Matrix):
            self.matrix = result
            self.guide_id = result.guide.id
            self._fill_matrix()
        else:
            self.co = result
            self._fill_cooccurrence()

    def _fill_matrix(self) -> None:
        m = self.matrix
        table = self.query_one(DataTable)
        keep = table.cursor_coordinate
        table.clear(columns=True)
        label = "respondent" if m.by == "respondent" else "case"
        table.add_column("Code", key="code")
        for col in m.columns:
            table.add_column(col, key=col)
        table.add_column("Total", key=TOTAL)
        rows = m.with_indicators(None if self.all_indicators else self.expanded)
        for r in rows:
            if r.kind == "dimension":
                mark = "▾ " if (self.all_indicators or r.id in self.expanded) else "▸ "
                name = Text(mark, style="dim")
                name.append("■ ", style=r.colour)
                name.append(r.name, style="bold")
                if m.dimension_memos.get(r.id):
                    name.append(" ✉", style="dim")
            else:
                name = Text("     " + r.name)
            cells = [self._count(m.count(r, c)) for c in m.columns]
            table.add_row(name, *cells, self._count(m.count(r), bold=True), key=f"{r.kind}:{r.id}")
        sessions = sum(m.sessions.values())
        self.query_one("#matrix-title", Static).update(
            f"Coded passages by {label} · {sessions} sessions of {m.guide.title}  "
            f"(b: by {'case' if m.by == 'respondent' else 'respondent'}, i: indicators, o: co-occurrence)"
        )
        if keep.row < table.row_count and keep.column < len(table.columns):
            table.move_cursor(row=keep.row, column=keep.column, animate=False)

    @staticmethod
    def _count(n: int, bold: bool = False) -> Text:
        if not n:
            return Text("·", style="dim", justify="right")
        return Text(str(n), style="bold" if bold else "", justify="right")

    def _fill_cooccurrence(self) -> None:
        co = self.co
        table = self.query_one(DataTable)
        table.clear(columns=True)
        table.add_column("Dimension", key="code")
        short = {}
        for i, (code, name) in enumerate(co.codes, start=1):
            short[code] = str(i)
            table.add_column(str(i), key=code)
        for i, (code, name) in enumerate(co.codes, start=1):
            cells = []
            for other, _ in co.codes:
                n = co.count(code, other)
                style = "bold reverse" if code == other and n else ("bold" if n else "dim")
                cells.append(Text(str(n) if n else "·", style=style, justify="right"))
            table.add_row(Text(f"{i:>2} {name}"), *cells, key=f"co:{code}")
        self.query_one("#matrix-title", Static).update(
            "Codes occurring together on a passage (same segment, whole or overlapping spans); "
            "the diagonal counts each code's passages · Enter on a cell lists them · o: back to the matrix"
        )

    # cells and passages -------------------------------------------------------------------------

    @on(DataTable.CellSelected)
    def cell_selected(self, event: DataTable.CellSelected) -> None:
        row_key = event.cell_key.row_key.value
        col_key = event.cell_key.column_key.value
        kind, _, code = row_key.partition(":")
        if self.showing == "cooccurrence" and self.co is not None and kind == "co":
            if col_key != "code":
                self.show_cooccurring(code, col_key)
            return
        if self.showing != "matrix" or self.matrix is None:
            return
        if col_key == "code":
            if kind == "dimension":
                self.expanded.symmetric_difference_update({code})
                self._fill_matrix()
            return
        column = None if col_key == TOTAL else col_key
        self.show_passages(kind, code, column)

    def show_passages(self, kind: str, code: str, column: str | None) -> None:
        m = self.matrix
        name = next(r.name for r in m.rows if r.kind == kind and r.id == code)
        where = "all sessions" if column is None else f"{'respondent' if m.by == 'respondent' else 'case'} {column}"
        self.query_one("#passages-title", Static).update(f"{name} — {where}: loading…")
        self.fetch_passages(kind, code, column, f"{name} — {where}")

    @work(thread=True, exclusive=True, group="passages", exit_on_error=False)
    def fetch_passages(self, kind: str, code: str, column: str | None, title: str) -> None:
        store = Store.open_like(self.store)
        try:
            found = passages(
                store,
                dimension_id=code if kind == "dimension" else None,
                indicator_id=code if kind == "indicator" else None,
                by=self.by if column is not None else None,
                value=column,
                guide_id=self.guide_id,
            )
        finally:
            store.close()
        self.app.call_from_thread(self._show_passages, found, title)

    def show_cooccurring(self, a: str, b: str) -> None:
        names = dict(self.co.codes)
        title = names.get(a, a) if a == b else f"{names.get(a, a)} & {names.get(b, b)}"
        self.query_one("#passages-title", Static).update(f"{title}: loading…")
        self.fetch_cooccurring(a, b, title)

    @work(thread=True, exclusive=True, group="passages", exit_on_error=False)
    def fetch_cooccurring(self, a: str, b: str, title: str) -> None:
        store = Store.open_like(self.store)
        try:
            found = cooccurring_passages(store, a, b, self.co.level, guide_id=self.guide_id)
        finally:
            store.close()
        self.app.call_from_thread(self._show_passages, found, title)

    @staticmethod
    def _code_label(guide, dimension_id: str, indicator_id: str) -> tuple[str, str]:
        try:
            dim = guide.dimension(dimension_id)
            return f"{dim.name} / {guide.indicator(indicator_id).name}", dim.colour
        except KeyError:
            return f"{dimension_id} / {indicator_id}", "#808080"

    def _show_passages(self, found: list[Passage], title: str) -> None:
        self.shown_passages = found[:SHOW_PASSAGES]
        more = f" (the first {SHOW_PASSAGES} shown)" if len(found) > SHOW_PASSAGES else ""
        self.query_one("#passages-title", Static).update(
            f"{title}: {len(found)} passages{more} · Enter opens one in its session · tab switches"
        )
        options = self.query_one("#passages", OptionList)
        options.clear_options()
        guide = (self.matrix or self.co).guide
        for i, p in enumerate(self.shown_passages):
            label, colour = self._code_label(guide, p.dimension_id, p.indicator_id)
            text = Text(f"session {p.session_id} · respondent {p.respondent or '—'} · {p.case_name or '—'} · "
                        f"{clock(p.start)} · ", style="bold")
            text.append(label, style=colour)
            if p.other is not None:
                other, other_colour = self._code_label(guide, *p.other)
                text.append(" & ", style="bold")
                text.append(other, style=other_colour)
            if p.before:
                text.append(f"\n  {_who(p.before_speaker)}: {p.before}", style="dim")
            text.append(f"\n  {_who(p.speaker)}: ")
            if p.span is None:
                text.append(p.text, style="bold")
            else:
                a, b = p.span
                text.append(p.text[:a])
                text.append(p.text[a:b], style=f"bold underline {colour}")
                text.append(p.text[b:])
            if p.after:
                text.append(f"\n  {_who(p.after_speaker)}: {p.after}", style="dim")
            options.add_option(Option(text, id=str(i)))
        if found:
            options.highlighted = 0

    @on(OptionList.OptionSelected, "#passages")
    def passage_chosen(self, event: OptionList.OptionSelected) -> None:
        from tui.screens.review import ReviewScreen

        p = self.shown_passages[int(event.option.id)]
        self.app.push_screen(ReviewScreen(self.store, p.session_id, select=p.segment_id))

    # actions ------------------------------------------------------------------------------------

    def _row(self) -> tuple[str, str] | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        row_key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        kind, _, code = row_key.partition(":")
        return kind, code

    def action_code_passages(self) -> None:
        row = self._row()
        if row is None or self.showing != "matrix":
            return
        self.show_passages(row[0], row[1], None)
        self.query_one("#passages", OptionList).focus()

    def _dimension(self) -> str | None:
        """The dimension of the row under the cursor (an indicator's own, in the matrix)."""
        row = self._row()
        if row is None:
            return None
        kind, code = row
        if kind == "indicator" and self.matrix is not None:
            return next((r.dimension_id for r in self.matrix.rows if r.kind == kind and r.id == code), None)
        if kind == "dimension" or (kind == "co" and self.co is not None and self.co.level == "dimension"):
            return code
        return None

    def action_dimension_memo(self) -> None:
        dimension_id = self._dimension()
        shown = self.matrix if self.showing == "matrix" else self.co
        if dimension_id is None or shown is None:
            self.notify("Put the cursor on a dimension's row first.", severity="warning")
            return
        try:
            dim = shown.guide.dimension(dimension_id)
            name, colour = dim.name, dim.colour
        except KeyError:
            name, colour = dimension_id, "#808080"

        def done(text: str | None) -> None:
            if text is None:
                return
            try:
                # Written in the comparison, not in a session: the memo belongs to the study.
                review.add_memo(self.store, None, "dimension", dimension_id, text)
            except UserError as exc:
                self.notify(str(exc), severity="warning")
                return
            if self.matrix is not None:
                self.matrix.dimension_memos[dimension_id] += 1
                if self.showing == "matrix":
                    self._fill_matrix()
            self.notify(f"Memo on {name} saved", timeout=2)

        memos = review.dimension_memos(self.store, dimension_id)
        self.app.push_screen(DimensionMemoDialog(name, colour, memos), done)

    def action_toggle_by(self) -> None:
        self.by = "case" if self.by == "respondent" else "respondent"
        self.showing = "matrix"
        self.load()

    def action_toggle_indicators(self) -> None:
        self.all_indicators = not self.all_indicators
        if not self.all_indicators:
            self.expanded.clear()
        if self.matrix is not None and self.showing == "matrix":
            self._fill_matrix()

    def action_toggle_cooccurrence(self) -> None:
        self.showing = "cooccurrence" if self.showing == "matrix" else "matrix"
        self.load()

    def action_switch_pane(self) -> None:
        table, options = self.query_one(DataTable), self.query_one("#passages", OptionList)
        (options if table.has_focus else table).focus()

    def action_back(self) -> None:
        self.app.pop_screen()

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            message = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            self.notify(message, severity="error", timeout=10)
