"""The command palette lists what the current screen can do: each of its bindings, by its
description, so every action is reachable by name as well as by key."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider


class ScreenActions(Provider):
    def _actions(self):
        screen = self.screen
        seen: set[str] = set()
        for active in screen.active_bindings.values():
            binding = active.binding
            if active.node is not screen or not active.enabled or not binding.description:
                continue
            if binding.action in seen:
                continue
            seen.add(binding.action)
            yield binding

    def _run(self, action: str):
        return partial(self.app.run_action, action, self.screen)

    async def discover(self) -> Hits:
        for binding in self._actions():
            yield DiscoveryHit(binding.description, self._run(binding.action), help=f"key: {binding.key_display or binding.key}")

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for binding in self._actions():
            score = matcher.match(binding.description)
            if score > 0:
                yield Hit(
                    score,
                    matcher.highlight(binding.description),
                    self._run(binding.action),
                    help=f"key: {binding.key_display or binding.key}",
                )
