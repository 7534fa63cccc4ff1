"""Files in and out: transcript formats read for import (`formats`, `transcripts`, `word`, with
a text file's bytes and encoding in `textfiles` and the limits on what is read in `limits`),
exports in every format (`export`, `exporters`), pseudonymisation of names in what leaves
(`pseudonymise`), a colleague's REFI-QDA project read back (`projects`), a QDA program's
codebook read into a guide (`codebook`), and a guide drafted from a list of questions
(`guide_draft`).

Imports every package below it: base, study, audio, speech, store, understanding.
"""
