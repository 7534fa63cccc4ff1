"""Audio to words: finding and loading Whisper models (`models`), the live transcriber with its
guards against invented text and repetition loops (`transcriber`).

Imports core.base, core.study and core.audio.
"""
