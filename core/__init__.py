"""fieldnote without a screen: the study, audio, speech, understanding, store and exchange.

The packages are layers, listed from the bottom up; a module imports only from its own package
and from the packages before it (tests/test_layers.py checks this, and that nothing here
imports `textual` or `tui`):

    base           errors, paths, the log
    study          the guide and codebook format, languages
    audio          sources and devices, the segmenter, the two-track capture, bleed, playback
    speech         Whisper models, the live transcriber, batched decoding of a whole track
    store          the database: schema and migrations, queries, review edits, browsing, deletion
    understanding  guide tracking, suggestions, coverage, drafted question links
    interchange    transcript formats in, exports out, pseudonymisation, guide drafting
    analysis       comparison across respondents and cases, agreement between coders
    pipeline       what ties them: the live pipeline, recording, demo, import, re-transcription
    doctor         the check of this machine (a module: it looks at everything)
"""

import os

# ONNX Runtime (it runs faster-whisper's Silero VAD) has a telemetry uploader in its native code:
# some 9 s after the library is imported it looks up Microsoft's collector, to send it events
# (program path, OS, CPU, a device id) that it keeps meanwhile under ~/.cache/Microsoft. It
# reads this variable once, when it is imported; its disable_telemetry_events() comes too late
# and stops neither the look-up nor the files. Set here, before any module of fieldnote can
# import it, and set, not defaulted: interviews are confidential, so a 0 inherited from the
# shell does not turn it on. tests/test_offline_syscalls.py watches demo and transcribe for it.
os.environ["ORT_DISABLE_TELEMETRY"] = "1"
