"""Small modal dialogs of the review screens. Each returns its answer through `dismiss`
(None when cancelled with Escape)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, OptionList, RadioButton, RadioSet, Static, TextArea
from textual.widgets.option_list import Option

from core.study.guide import Guide
from core.store.review import rank_indicators


def _offset(area: TextArea, location: tuple[int, int]) -> int:
    return area.document.get_index_from_location(location)


class TextDialog(ModalScreen[str | None]):
    """Edit a piece of text: a segment's words, or a memo."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, text: str = "", *, hint: str = "") -> None:
        super().__init__(classes="dialog")
        self.heading = title
        self.text = text
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.heading, classes="dialog-title")
            if self.hint:
                yield Static(self.hint, classes="dialog-hint")
            yield TextArea(self.text, soft_wrap=True, show_line_numbers=False, id="dialog-text")
            yield Static("ctrl+s save · esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        area = self.query_one(TextArea)
        area.focus()
        area.move_cursor(area.document.end)

    def action_save(self) -> None:
        self.dismiss(self.query_one(TextArea).text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class BookmarkDialog(ModalScreen[str | None]):
    """A note on a bookmark just made during the interview: one line, Enter keeps it, Escape
    leaves the bookmark without one. The recording and transcription go on meanwhile."""

    # The live screens do not load review.tcss, so this dialog carries its own look.
    DEFAULT_CSS = """
    BookmarkDialog {
        align: center bottom;
        background: $background 30%;
    }
    BookmarkDialog > Vertical {
        width: 80%;
        max-width: 90;
        height: auto;
        border: thick $warning;
        background: $surface;
        padding: 0 1;
        margin-bottom: 3;
    }
    BookmarkDialog .dialog-keys {
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "No note")]

    def __init__(self, time: str, note: str = "") -> None:
        super().__init__()
        self.time = time
        self.note = note

    def heading(self) -> str:
        return f"⚑ Bookmark at {self.time}"

    def keys(self) -> str:
        return "enter keep the note · esc no note · the recording goes on"

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(self.heading(), classes="dialog-title")
            yield Input(self.note, placeholder="a short note (optional)", id="bookmark-note")
            yield Static(self.keys(), classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def submitted(self, event: Input.Submitted) -> None:
        self.dismiss(self.answer(event.value))

    def answer(self, note: str) -> object:
        return note

    def action_cancel(self) -> None:
        self.dismiss(None)


class BookmarkNoteDialog(BookmarkDialog):
    """A bookmark's note in review: one to add after the segment that began at `after`, or
    one to change or delete. Answers ("save", note), where an empty note keeps the bookmark
    without one, or ("delete", ""); None when cancelled."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        # Ahead of the note's Input, whose ctrl+d deletes a character (the delete key still does).
        Binding("ctrl+d", "delete", "Delete bookmark", priority=True),
    ]

    def __init__(self, time: str, note: str = "", *, after: str | None = None) -> None:
        super().__init__(time, note)
        self.after = after
        self.new = after is not None

    def heading(self) -> str:
        if self.new:
            return f"⚑ New bookmark at {self.time}, after the segment at {self.after}"
        return f"⚑ Bookmark at {self.time}"

    def keys(self) -> str:
        if self.new:
            return "enter add the bookmark · esc cancel"
        return "enter save (empty: no note) · ctrl+d delete the bookmark · esc cancel"

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action == "delete" and self.new)

    def answer(self, note: str) -> tuple[str, str]:
        return ("save", note)

    def action_delete(self) -> None:
        self.dismiss(("delete", ""))


class ChoiceDialog(ModalScreen[str | None]):
    """Choose one of a few things named by a line each (which of a segment's bookmarks to open,
    or a new one). Answers the chosen option's key; None when cancelled."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, options: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog")
        self.heading = title
        self.options = options  # (key, label), in the order shown

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.heading, classes="dialog-title")
            # Text, not markup: a note may hold brackets.
            yield OptionList(*[Option(Text(label), id=key) for key, label in self.options], id="choice-options")
            yield Static("enter choose · ↑↓ move · esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = 0
        options.focus()

    @on(OptionList.OptionSelected)
    def chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)


class PositionDialog(ModalScreen[object]):
    """Point into a segment's text: where to split it (the cursor), or which span to code (a
    selection made with shift and the arrow keys; none = the whole segment)."""

    BINDINGS = [
        Binding("enter", "done", "Split here", show=True),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, text: str, *, mode: str) -> None:
        super().__init__(classes="dialog")
        self.heading = title
        self.text = text
        self.mode = mode  # split | span

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.heading, classes="dialog-title")
            if self.mode == "split":
                hint = "Move the cursor to where the second part starts, then Enter."
            else:
                hint = "Select the passage with shift+arrows (shift+ctrl+arrows by word), then Enter. No selection codes the whole segment."
            yield Static(hint, classes="dialog-hint")
            yield TextArea(self.text, read_only=True, soft_wrap=True, show_line_numbers=False, id="dialog-text")
            yield Static("enter choose · esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_done(self) -> None:
        area = self.query_one(TextArea)
        if self.mode == "split":
            self.dismiss(_offset(area, area.cursor_location))
            return
        a, b = sorted((_offset(area, area.selection.start), _offset(area, area.selection.end)))
        self.dismiss((a, b) if a < b else "whole")

    def action_cancel(self) -> None:
        self.dismiss(None)


class IndicatorPicker(ModalScreen[str | None]):
    """Find an indicator of the codebook by typing part of its (or its dimension's) name."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("down", "move(1)", "Next", show=False),
        Binding("up", "move(-1)", "Previous", show=False),
    ]

    def __init__(self, guide: Guide, title: str) -> None:
        super().__init__(classes="dialog")
        self.guide = guide
        self.heading = title

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label(self.heading, classes="dialog-title")
            yield Input(placeholder="type part of a dimension or indicator name…", id="picker-query")
            yield OptionList(id="picker-options")
            yield Static("enter choose · ↑↓ move · esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self._fill("")
        self.query_one(Input).focus()

    def _fill(self, query: str) -> None:
        options = self.query_one(OptionList)
        options.clear_options()
        for ind_id, label in rank_indicators(self.guide, query):
            colour = self.guide.dimension(self.guide.indicator(ind_id).dimension_id).colour
            prompt = Text("■ ", style=colour)
            prompt.append(label)
            options.add_option(Option(prompt, id=ind_id))
        if options.option_count:
            options.highlighted = 0

    @on(Input.Changed)
    def changed(self, event: Input.Changed) -> None:
        self._fill(event.value)

    @on(Input.Submitted)
    def submitted(self) -> None:
        options = self.query_one(OptionList)
        if options.highlighted is not None:
            self.dismiss(options.get_option_at_index(options.highlighted).id)

    @on(OptionList.OptionSelected)
    def selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_move(self, delta: int) -> None:
        options = self.query_one(OptionList)
        if options.option_count:
            current = options.highlighted if options.highlighted is not None else -delta
            options.highlighted = max(0, min(options.option_count - 1, current + delta))

    def action_cancel(self) -> None:
        self.dismiss(None)


class MemoDialog(ModalScreen[tuple[str, str] | None]):
    """Write a memo on one of the given targets (segment, coding, dimension, session)."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, targets: list[tuple[str, str]]) -> None:
        super().__init__(classes="dialog")
        self.targets = targets  # (key, label); the first is chosen

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Memo", classes="dialog-title")
            with RadioSet(id="memo-target"):
                for i, (key, label) in enumerate(self.targets):
                    yield RadioButton(label, value=i == 0, name=key)
            yield TextArea("", soft_wrap=True, show_line_numbers=False, id="dialog-text")
            yield Static("tab: choose what the memo is on · ctrl+s save · esc cancel", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        radio = self.query_one(RadioSet)
        button = radio.pressed_button
        key = button.name if button is not None else self.targets[0][0]
        self.dismiss((key, self.query_one(TextArea).text))

    def action_cancel(self) -> None:
        self.dismiss(None)


class DimensionMemoDialog(ModalScreen[str | None]):
    """The memos on one dimension, written in any session or in the comparison, and a new one."""

    DEFAULT_CSS = """
    DimensionMemoDialog #dimension-memos {
        height: auto;
        max-height: 14;
        margin-bottom: 1;
    }
    """
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Close"),
    ]

    def __init__(self, name: str, colour: str, memos: list[dict]) -> None:
        super().__init__(classes="dialog")
        self.heading = name
        self.colour = colour
        self.memos = memos

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            title = Text("■ ", style=self.colour)
            title.append(f"Memos on {self.heading}")
            yield Label(title, classes="dialog-title")
            written = Text()
            for m in self.memos:
                where = f"session {m['session_id']}" if m["session_id"] is not None else "comparison"
                written.append(f"{m['created_at'][:10]} · {where}\n", style="dim")
                written.append(f"✉ {m['text']}\n\n")
            if not self.memos:
                written.append("No memos on this dimension yet.", style="dim italic")
            written.rstrip()
            with VerticalScroll(id="dimension-memos"):
                yield Static(written)
            yield Static("A new memo:", classes="dialog-hint")
            yield TextArea("", soft_wrap=True, show_line_numbers=False, id="dialog-text")
            yield Static("ctrl+s save · esc close", classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(TextArea).focus()

    def action_save(self) -> None:
        text = self.query_one(TextArea).text
        if not text.strip():
            self.notify("Write the memo first, or close with esc.", severity="warning")
            return
        self.dismiss(text)

    def action_cancel(self) -> None:
        self.dismiss(None)


class RetranscribeDialog(ModalScreen[dict | None]):
    """Options for transcribing the session again from its recording."""

    BINDINGS = [
        Binding("ctrl+s", "start", "Start"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, model: str, edited: int) -> None:
        super().__init__(classes="dialog")
        self.model = model
        self.edited = edited

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Transcribe again from the recording", classes="dialog-title")
            yield Static("Model (a name from `fieldnote models`, or a model folder):", classes="dialog-hint")
            yield Input(self.model, id="retranscribe-model")
            yield Checkbox("Verbatim: keep fillers and hesitations (uhm, eh)", id="retranscribe-verbatim")
            yield Checkbox(f"Also replace the {self.edited} segments I edited by hand", id="retranscribe-overwrite")
            yield Static("Codings stay on the same words; this can be undone. enter/ctrl+s start · esc cancel",
                         classes="dialog-keys")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def action_start(self) -> None:
        model = self.query_one(Input).value.strip()
        if not model:
            self.notify("Name a model first.", severity="warning")
            return
        self.dismiss(
            {
                "model": model,
                "verbatim": self.query_one("#retranscribe-verbatim", Checkbox).value,
                "overwrite_edited": self.query_one("#retranscribe-overwrite", Checkbox).value,
            }
        )

    def action_cancel(self) -> None:
        self.dismiss(None)


class ExportDialog(ModalScreen[dict | None]):
    """Export this session: a format, where to write it, and whether to pseudonymise."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Export"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, formats: dict, folder: str, stem: str) -> None:
        super().__init__(classes="dialog")
        self.formats = formats
        self.folder = folder
        self.stem = stem

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog-box"):
            yield Label("Export this session", classes="dialog-title")
            yield OptionList(
                *[Option(f"{f.name:<6} {f.description}", id=f.name) for f in self.formats.values()],
                id="export-format",
            )
            yield Input(self._path("md"), id="export-path")
            yield Checkbox("Pseudonymise (the study's names list; respondents by number)", id="export-pseudonymise")
            yield Static("enter/ctrl+s export · esc cancel", classes="dialog-keys")

    def _path(self, name: str) -> str:
        return f"{self.folder}/{self.stem}{self.formats[name].extension}"

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionHighlighted, "#export-format")
    def _format_changed(self, event: OptionList.OptionHighlighted) -> None:
        self.query_one("#export-path", Input).value = self._path(event.option.id)

    @on(OptionList.OptionSelected, "#export-format")
    @on(Input.Submitted, "#export-path")
    def action_save(self, _event=None) -> None:
        options = self.query_one(OptionList)
        option = options.get_option_at_index(options.highlighted or 0)
        self.dismiss(
            {
                "format": option.id,
                "path": self.query_one("#export-path", Input).value.strip(),
                "pseudonymise": self.query_one("#export-pseudonymise", Checkbox).value,
            }
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
