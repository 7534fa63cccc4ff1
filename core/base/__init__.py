"""What every other package leans on: the errors a user can cause (`errors`), where data lives
(`paths`), and the log that keeps what failed but never what was said (`log`).

Imports nothing from core.
"""
