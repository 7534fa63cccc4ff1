"""The keys of the current screen on one line, like Textual's Footer, drawn as one widget.

Textual's Footer mounts a widget per key and rebuilds them whenever focus moves; with the dozen
keys of the review screen that was a third of the time to open it (bench/bench_review.py). This
bar draws the same active bindings, with their descriptions, as a single line of text.
"""

from __future__ import annotations

from rich.text import Text
from textual.widget import Widget


class KeyBar(Widget):
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        background: $footer-background;
        color: $footer-foreground;
    }
    """

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, lambda _screen: self.refresh())

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        seen: set[str] = set()
        for active in self.screen.active_bindings.values():
            binding = active.binding
            if not binding.show or not binding.description or binding.action in seen:
                continue
            seen.add(binding.action)
            key = binding.key_display or self.app.get_key_display(binding)
            text.append(f" {key} ", style="bold reverse" if active.enabled else "dim reverse")
            text.append(f" {binding.description} ", style="" if active.enabled else "dim")
        palette = Text(" ^p palette ", style="dim")
        room = self.size.width - palette.cell_len
        if text.cell_len > room:
            text.truncate(max(0, room), overflow="ellipsis")
        text.pad_right(max(0, room - text.cell_len))
        return text + palette
