"""The sessions screen: every session of the study, a filter, and full-text search across all
transcripts whose hits open the session at the segment."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Header, Input, Static

from core.store.browse import SearchHit, SessionSummary, count_hits, filter_sessions, search, session_summaries, snippet_parts
from core.base.errors import UserError
from core.interchange.export import clock
from core.store.database import Store

from tui.widgets.keybar import KeyBar
from tui.widgets.palette import ScreenActions
from tui.widgets.rows import RowList

COLUMNS = (("id", 5), ("date", 17), ("respondent", 11), ("case", 27), ("guide", 20), ("length", 8), ("status", 11), ("coded", 6))
SEARCH_LIMIT = 200


def _cell(value: str, width: int) -> str:
    value = value if len(value) < width else value[: width - 2] + "…"
    return f"{value:<{width}}"


class SessionsScreen(Screen):
    """Find a session or a passage, and open it for review."""

    CSS_PATH = "review.tcss"
    COMMANDS = Screen.COMMANDS | {ScreenActions}
    AUTO_FOCUS = "#sessions"
    BINDINGS = [
        Binding("slash", "focus_search", "Search transcripts"),
        Binding("f", "focus_filter", "Filter sessions"),
        Binding("m", "matrix", "Compare (matrix)"),
        Binding("a", "agreement", "Agreement (a colleague's .qdpx)"),
        Binding("g", "refresh", "Reload", show=False),
        Binding("escape", "back", "Back to the list", show=False),
        Binding("q", "app.quit", "Quit"),
    ]

    def __init__(self, store: Store) -> None:
        super().__init__()
        self.store = store
        self.all: list[SessionSummary] = []
        self.by_id: dict[int, SessionSummary] = {}
        self.hits: dict[int, SearchHit] = {}
        self._search_timer = None

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="sessions-pane"):
            yield Input(placeholder="Filter sessions: respondent, case, guide, status, date…  (f)", id="filter")
            yield Static(self._header(), id="sessions-header", classes="table-header")
            yield RowList(self._session_row, empty="No sessions yet: run `fieldnote demo` or import a transcript.",
                          id="sessions")
        with Vertical(id="search-pane"):
            yield Input(placeholder="Search all transcripts…  (/)", id="search")
            yield Static("", id="search-count", classes="table-header")
            yield RowList(self._hit_row, id="hits")
        yield KeyBar()

    def on_mount(self) -> None:
        self.title = "fieldnote"
        self.sub_title = "sessions"

    def on_screen_resume(self) -> None:
        # Each time the screen shows, the first time and back from a review (coded shares and
        # texts may have changed since).
        self.load()
        query = self.query_one("#search", Input).value
        if query.strip():
            self.run_search(query)

    # data ---------------------------------------------------------------------------------------

    def load(self) -> None:
        rows = self.query_one("#sessions", RowList)
        keep = rows.current
        self.all = session_summaries(self.store)
        self.by_id = {s.id: s for s in self.all}
        self._show(self.query_one("#filter", Input).value, keep)

    def _show(self, text: str, keep=None) -> None:
        shown = filter_sessions(self.all, text)
        self.query_one("#sessions", RowList).set_rows([s.id for s in shown], keep=keep)
        total = len(self.all)
        self.sub_title = f"{len(shown)} of {total} sessions" if len(shown) != total else f"{total} sessions"

    def _header(self) -> Text:
        return Text(" ".join(_cell(name, w) for name, w in COLUMNS), style="bold")

    def _session_row(self, key, width: int) -> Text:
        s = self.by_id[key]
        date = s.started_at[:16].replace("T", " ")
        values = (str(s.id), date, s.respondent or "—", s.case_name or "—", s.guide_id,
                  clock(s.duration) if s.duration else "—", s.status, f"{s.coded_share:.0%}")
        text = Text()
        for (name, w), v in zip(COLUMNS, values):
            style = ""
            if name == "status":
                style = {"recording": "bold red", "interrupted": "yellow"}.get(v, "")
            text.append(_cell(v, w) + " ", style=style)
        return text

    def _hit_row(self, key, width: int) -> Text:
        h = self.hits[key]
        who = "I" if h.speaker == "interviewer" else "R"
        text = Text(f"{h.session_id:>4} ", style="bold")
        text.append(f"{(h.respondent or '—')[:6]:<6} {clock(h.start):>7} {who} ", style="dim")
        for part, hit in snippet_parts(h.snippet):
            text.append(part, style="bold reverse" if hit else "")
        return text

    def run_search(self, query: str) -> None:
        hits = search(self.store, query, limit=SEARCH_LIMIT)
        self.hits = {h.segment_id: h for h in hits}
        self.query_one("#hits", RowList).set_rows([h.segment_id for h in hits])
        label = self.query_one("#search-count", Static)
        if not query.strip():
            label.update("")
            return
        total = count_hits(self.store, query) if len(hits) >= SEARCH_LIMIT else len(hits)
        shown = f", the newest {len(hits)} shown" if total > len(hits) else ""
        label.update(f"{total} segments match “{query.strip()}”{shown} — Enter opens one")

    # events -------------------------------------------------------------------------------------

    @on(Input.Changed, "#filter")
    def filter_changed(self, event: Input.Changed) -> None:
        self._show(event.value)

    @on(Input.Submitted, "#filter")
    def filter_done(self) -> None:
        self.query_one("#sessions", RowList).focus()

    @on(Input.Changed, "#search")
    def search_changed(self, event: Input.Changed) -> None:
        # Searching is fast (bench_review.py), but not every keystroke needs a result.
        if self._search_timer is not None:
            self._search_timer.stop()
        self._search_timer = self.set_timer(0.25, lambda: self.run_search(event.value))

    @on(Input.Submitted, "#search")
    def search_done(self, event: Input.Submitted) -> None:
        if self._search_timer is not None:
            self._search_timer.stop()
        self.run_search(event.value)
        self.query_one("#hits", RowList).focus()

    @on(RowList.Chosen, "#sessions")
    def open_session(self, event: RowList.Chosen) -> None:
        self.open_review(event.key)

    @on(RowList.Chosen, "#hits")
    def open_hit(self, event: RowList.Chosen) -> None:
        hit = self.hits[event.key]
        self.open_review(hit.session_id, segment_id=hit.segment_id)

    def open_review(self, session_id: int, segment_id: int | None = None) -> None:
        from tui.screens.review import ReviewScreen

        self.app.push_screen(ReviewScreen(self.store, session_id, select=segment_id))

    # actions ------------------------------------------------------------------------------------

    def action_focus_search(self) -> None:
        self.query_one("#search", Input).focus()

    def action_focus_filter(self) -> None:
        self.query_one("#filter", Input).focus()

    def action_back(self) -> None:
        self.query_one("#sessions", RowList).focus()

    def action_refresh(self) -> None:
        self.load()

    def action_matrix(self) -> None:
        from tui.screens.compare import CompareScreen

        self.app.push_screen(CompareScreen(self.store))

    def action_agreement(self) -> None:
        from pathlib import Path

        from core.analysis.agreement import compare

        from tui.screens.agreement import AgreementScreen
        from tui.screens.dialogs import TextDialog

        def chosen(text: str | None) -> None:
            if not text or not text.strip():
                return
            path = Path(text.strip()).expanduser()
            try:
                compare(self.store, path)  # a wrong file is named here, before the screen opens
            except UserError as exc:
                self.notify(str(exc), severity="error", timeout=10)
                return
            self.app.push_screen(AgreementScreen(self.store, path))

        self.app.push_screen(TextDialog(
            "A colleague's coded project (.qdpx): its path",
            hint="Give them the transcripts without your codes: fieldnote export --all --format qdpx --no-codings",
        ), chosen)
