"""Sound in and out, before any words: audio chunks, clocks, file sources and the VAD segmenter
(`sources`), microphone and loopback devices with the live two-track source (`capture`), the
filter that drops one track's echo on the other (`bleed`), and playback of a session's tracks
(`playback`).

Imports core.base and core.study.
"""
