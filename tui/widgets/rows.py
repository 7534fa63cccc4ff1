"""A list of one-line rows that renders only what is on screen, so a thousand sessions or search
hits open as fast as ten (Textual's line API; a DataTable measures every cell first), and the
cursor navigation it shares with the review screen's transcript."""

from __future__ import annotations

from typing import Callable, Hashable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip


def navigation_bindings(up: str = "Up", down: str = "Down", first: str = "First", last: str = "Last") -> list[Binding]:
    """The keys that move a list's cursor, described in the list's own words."""
    return [
        Binding("up,k", "move(-1)", up, show=False),
        Binding("down,j", "move(1)", down, show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "edge(0)", first, show=False),
        Binding("end", "edge(1)", last, show=False),
    ]


class CursorList(ScrollView, can_focus=True):
    """A list drawn with the line API whose cursor is moved with the keys and kept in view.

    What differs is left to the list: how many items it has (`item_count`), which lines an
    item takes up (`item_region`: a row is one line, a transcript segment a block of several)
    and what it tells its parent when the cursor moves (`cursor_moved`)."""

    BINDINGS = navigation_bindings()

    cursor: reactive[int] = reactive(0, always_update=True)

    @property
    def item_count(self) -> int:
        raise NotImplementedError

    def item_region(self, index: int) -> Region | None:
        """The lines item `index` takes up; None while they are not known."""
        raise NotImplementedError

    def cursor_moved(self) -> None:
        raise NotImplementedError

    def scroll_to_cursor(self) -> None:
        region = self.item_region(self.cursor)
        if region is not None:
            self.scroll_to_region(region, animate=False, force=True)

    def watch_cursor(self) -> None:
        self.scroll_to_cursor()
        self.refresh()
        self.cursor_moved()

    def move_cursor_to(self, index: int) -> None:
        """Put the cursor on item `index`, or on the first or last one when it is beyond them."""
        if self.item_count:
            self.cursor = max(0, min(self.item_count - 1, index))

    def action_move(self, delta: int) -> None:
        self.move_cursor_to(self.cursor + delta)

    def action_page(self, direction: int) -> None:
        self.action_move(direction * max(1, self.size.height - 1))

    def action_edge(self, end: int) -> None:
        self.move_cursor_to(self.item_count - 1 if end else 0)

    def on_focus(self) -> None:
        self.refresh()  # the cursor is drawn dimmed without focus

    def on_blur(self) -> None:
        self.refresh()


class RowList(CursorList):
    """Rows drawn by `render_row(key, width)`; a cursor row; Enter chooses it."""

    COMPONENT_CLASSES = {"rowlist--cursor", "rowlist--empty"}
    BINDINGS = [Binding("enter", "choose", "Open", show=True)]

    class Highlighted(Message):
        def __init__(self, rows: "RowList", key: Hashable | None) -> None:
            super().__init__()
            self.rows = rows
            self.key = key

        @property
        def control(self) -> "RowList":
            return self.rows

    class Chosen(Message):
        def __init__(self, rows: "RowList", key: Hashable) -> None:
            super().__init__()
            self.rows = rows
            self.key = key

        @property
        def control(self) -> "RowList":
            return self.rows

    def __init__(self, render_row: Callable[[Hashable, int], Text], *, empty: str = "", **kwargs) -> None:
        super().__init__(**kwargs)
        self.render_row = render_row
        self.keys: list[Hashable] = []
        self.empty = empty
        self._cache: dict[int, Strip] = {}
        self._cache_width = 0

    # data ---------------------------------------------------------------------------------------

    def set_rows(self, keys: list[Hashable], *, keep: Hashable | None = None) -> None:
        self.keys = list(keys)
        self._cache.clear()
        self.virtual_size = Size(self.size.width, len(self.keys))
        index = self.keys.index(keep) if keep is not None and keep in self.keys else 0
        self.cursor = min(index, max(0, len(self.keys) - 1))
        self.refresh()

    @property
    def current(self) -> Hashable | None:
        return self.keys[self.cursor] if 0 <= self.cursor < len(self.keys) else None

    # drawing ------------------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.size.width
        if width != self._cache_width:
            self._cache.clear()
            self._cache_width = width
        index = self.scroll_offset.y + y
        if not self.keys:
            if y == 0 and self.empty:
                style = self.get_component_rich_style("rowlist--empty")
                return Strip([Segment(self.empty[:width], style)]).extend_cell_length(width)
            return Strip.blank(width)
        if index >= len(self.keys):
            return Strip.blank(width)
        strip = self._cache.get(index)
        if strip is None:
            text = self.render_row(self.keys[index], width)
            text.no_wrap = True
            text.truncate(width, overflow="ellipsis")
            strip = Strip(list(text.render(self.app.console, ""))).extend_cell_length(width).crop(0, width)
            self._cache[index] = strip
        if index == self.cursor:
            strip = strip.apply_style(self.get_component_rich_style("rowlist--cursor") if self.has_focus
                                      else self.get_component_rich_style("rowlist--cursor") + Style(dim=True))
        return strip

    def on_resize(self) -> None:
        self.virtual_size = Size(self.size.width, len(self.keys))
        self._cache.clear()

    # moving -------------------------------------------------------------------------------------

    @property
    def item_count(self) -> int:
        return len(self.keys)

    def item_region(self, index: int) -> Region:
        return Region(0, index, 1, 1)

    def cursor_moved(self) -> None:
        self.post_message(self.Highlighted(self, self.current))

    def action_choose(self) -> None:
        if self.current is not None:
            self.post_message(self.Chosen(self, self.current))

    def on_click(self, event) -> None:
        index = self.scroll_offset.y + event.y
        if 0 <= index < len(self.keys):
            self.cursor = index
            if event.chain >= 2:
                self.action_choose()
