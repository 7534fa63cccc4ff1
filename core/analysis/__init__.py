"""Looking across sessions: coded passages per dimension against respondents or cases
(`compare`), and how far a second coder's project agrees with this one (`agreement`).

Imports the packages below it, down to core.interchange (to read a colleague's .qdpx).
"""
