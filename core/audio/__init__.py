"""Sound in and out, before any words: audio chunks, clocks and file sources (`sources`), the
VAD segmenter (`segmenter`), the microphone and loopback devices (`devices`), resampling and
placing their blocks on the session clock (`alignment`), the live two-track source that ties
them (`capture`), the tracks written to disk with the session's lock and the room left on the
disk (`trackfiles`), the filter that drops one track's echo on the other (`bleed`), and
playback of a session's tracks (`playback`).

Imports core.base and core.study.
"""
