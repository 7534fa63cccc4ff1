"""The researcher's study as data: the guide with its questions, probes, dimensions and
indicators (`guide`), and how a language is read: word lists, stemming, clauses (`language`).

Imports only core.base.
"""
