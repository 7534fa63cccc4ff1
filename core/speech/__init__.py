"""Audio to words: finding and loading Whisper models (`models`), the live transcriber with its
guards against invented text and repetition loops (`transcriber`), and a recorded track
transcribed whole with its words' times (`tracks`, through faster-whisper's batched pipeline fed
as the file is read, `batched`).

Imports core.base, core.study and core.audio.
"""
