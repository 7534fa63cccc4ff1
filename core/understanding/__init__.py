"""What the words mean for the study: which guide question is being asked (`tracker`), which
dimensions a respondent's turn suggests (`suggester`), both reading words as `features` does and
weighing them by the fitted `weights` (data: `weights.toml`); which questions and dimensions are
covered (`coverage`), and question links drafted from a codebook's words (`codebook_draft`).

Imports core.base, core.study and core.store (for the records it hands the store).
"""
