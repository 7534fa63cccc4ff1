"""What the words mean for the study: which guide question is being asked and which indicators a
respondent's turn suggests (`tracker`), which questions and dimensions are covered
(`coverage`), and question links drafted from a codebook's words (`codebook_draft`).

Imports core.base, core.study and core.store (for the records it hands the store).
"""
