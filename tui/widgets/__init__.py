"""Widgets the screens are built from, and the command palette's provider of a screen's actions.
A widget is told what to show by its screen and tells it what happened with a message class
nested in it (TranscriptList.SegmentSelected, RowList.Chosen); none reads the store itself."""
