"""What ties the stages together: the live pipeline from utterance to stored, understood segment
(`live`), a recording tied to its session, its devices and the pipeline, and its recovery
after a crash (`recording`), the demo replay and the headless loop (`demo`), transcript import
run through the same understanding (`importing`), and re-transcription of a session from its
recording (`retranscribe`).

The top of core: imports every package except core.analysis (and core.doctor above it).
"""
