"""The fieldnote application. The CLI and the tests build it through `make_app`."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from textual.app import App
from textual.screen import Screen

from core.pipeline.live import LivePipeline
from core.store.database import Store

from tui.screens.live import LiveScreen


class FieldnoteApp(App[int]):
    # A path, not a name: a relative one is read beside the module of the class using it,
    # and RecordApp (tui/screens/setup.py) uses this one too.
    CSS_PATH = Path(__file__).with_name("fieldnote.tcss")
    TITLE = "fieldnote"

    def __init__(self, store: Store, *, live: tuple[int, LivePipeline, str] | None = None,
                 review_session: int | None = None, screen: Callable[[Store], Screen] | None = None) -> None:
        super().__init__()
        self.store = store
        self._live = live
        self._review_session = review_session
        self._screen = screen

    def on_mount(self) -> None:
        if self._live is not None:
            session_id, pipeline, state = self._live
            self.push_screen(LiveScreen(self.store, session_id, pipeline, state=state))
            return
        # Without a live session: the sessions screen, and the session to review on top of it.
        from tui.screens.sessions import SessionsScreen

        self.push_screen(SessionsScreen(self.store))
        if self._review_session is not None:
            from tui.screens.review import ReviewScreen

            self.push_screen(ReviewScreen(self.store, self._review_session))
        if self._screen is not None:
            self.push_screen(self._screen(self.store))


def make_app(store: Store, *, session_id: int | None = None, pipeline: LivePipeline | None = None, state: str = "recording",
             review_session: int | None = None, screen: Callable[[Store], Screen] | None = None) -> FieldnoteApp:
    """The app over `store`; with a session and a pipeline it opens on the live screen, else on
    the sessions screen (and on `review_session`'s review screen, or the screen `screen` makes,
    above it, if given)."""
    live = (session_id, pipeline, state) if pipeline is not None and session_id is not None else None
    return FieldnoteApp(store, live=live, review_session=review_session, screen=screen)
