"""The pane beside the review screen's transcript: the selected segment in full, its codes and
open suggestions, and the memos and bookmarks on it."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from core.interchange.export import clock
from core.store.review import SessionForReview

from tui.widgets.names import code_names, who
from tui.widgets.transcript import bookmark_text


class SegmentDetails(Vertical):
    """Who spoke and when, the question it answers and what the recogniser heard (where the
    text was corrected); the codings and pending suggestions as a list whose highlighted entry
    is the one the screen's keys act on; the memos on the segment, on its codings and on the
    session, and its bookmarks."""

    def compose(self) -> ComposeResult:
        yield Static("", id="segment-info")
        yield Static("Codes: a accept · r reject · x remove", classes="pane-title")
        chips = OptionList(id="chips")
        chips.can_focus = False  # the transcript keeps the focus; [ and ] move the highlight
        yield chips
        yield Static("", id="memos")

    def show(self, r: dict | None, data: SessionForReview | None) -> None:
        info = self.query_one("#segment-info", Static)
        chips = self.query_one("#chips", OptionList)
        memos = self.query_one("#memos", Static)
        chips.clear_options()
        if r is None or data is None:
            info.update("No segments in this session yet.")
            memos.update("")
            return
        guide = data.guide
        text = Text(f"{who(r)}  {clock(r['start'])}–{clock(r['end'])}", style="bold")
        if r["edited"]:
            text.append("  ✎ edited", style="italic")
        q = guide.question(r.get("question"))
        if q is not None:
            text.append(f"\nQ{q.number}: {q.text}", style="dim")
        if r.get("asr_text") and r["asr_text"] != r["text"]:
            text.append("\nHeard: ", style="bold dim")
            text.append(r["asr_text"], style="dim")
        if r.get("server"):
            text.append(f"\nTranscribed on server {r['server']} with {r.get('model') or 'its default model'}",
                        style="dim")
        info.update(text)
        for c in r["codings"]:
            dim, ind, colour = code_names(guide, c["dimension_id"], c["indicator_id"])
            prompt = Text("● ", style=colour)
            prompt.append(f"{dim} / {ind}")
            if c["start_offset"] is not None:
                prompt.append(f"\n   “{r['text'][c['start_offset']:c['end_offset']]}”", style="italic")
            chips.add_option(Option(prompt, id=f"c{c['id']}"))
        for s in r["suggestions"]:
            if s["state"] != "pending":
                continue
            dim, ind, colour = code_names(guide, s["dimension_id"], s["indicator_id"])
            prompt = Text("○ ", style=colour)
            prompt.append(f"{dim} / {ind}", style="italic")
            prompt.append(f"  {s['score']:.2f} suggested", style="dim")
            if s.get("reason"):
                # Why it was suggested: the phrases heard, the question, a passage coded before.
                prompt.append(f"\n   {s['reason']}", style="dim")
            chips.add_option(Option(prompt, id=f"s{s['id']}"))
        if chips.option_count:
            pending = [i for i in range(chips.option_count) if chips.get_option_at_index(i).id.startswith("s")]
            chips.highlighted = pending[0] if pending else 0
        else:
            chips.add_option(Option(Text("No codes yet: c codes the segment, v a span.", style="dim"), disabled=True))
        notes = Text()
        for m in r["memos"]:
            notes.append(f"✉ {m['text']}\n")
        for c in r["codings"]:
            for m in data.coding_memos.get(c["id"], []):
                dim, _, _ = code_names(guide, c["dimension_id"], c["indicator_id"])
                notes.append(f"✉ on {dim}: {m['text']}\n")
        for m in data.memos:
            label = "session" if m["target"] == "session" else f"{m['target']} {m['target_id']}"
            notes.append(f"✉ ({label}) {m['text']}\n", style="dim")
        for b in r["bookmarks"]:
            notes.append(bookmark_text(b) + "\n", style="bold")
        memos.update(notes)

    @property
    def chip(self) -> tuple[str, int] | None:
        """The highlighted entry: ("coding", id) or ("suggestion", id); None when there is none."""
        chips = self.query_one("#chips", OptionList)
        if chips.highlighted is None or not chips.option_count:
            return None
        option = chips.get_option_at_index(chips.highlighted)
        if not option.id:
            return None
        return ("coding" if option.id[0] == "c" else "suggestion"), int(option.id[1:])

    def step(self, delta: int) -> None:
        """Highlight the next (or previous) entry, stopping at the ends."""
        chips = self.query_one("#chips", OptionList)
        if chips.option_count and chips.highlighted is not None:
            chips.highlighted = max(0, min(chips.option_count - 1, chips.highlighted + delta))
