"""fieldnote's screens and its command line, over core/ (which never imports this package).

    cli.py     the `fieldnote` command: the parser, the small commands, the dispatch
    commands/  the other command groups, each registering its subcommands
    app.py     the application the CLI and the tests build (`make_app`)
    screens/   one module per screen (live, setup and recording, sessions, review, compare,
               agreement) and the dialogs they open, with their stylesheets
    widgets/   the pieces screens are built from: the transcripts, the panels, row lists,
               the key bar and the command palette's actions

Screens import widgets, never the other way; widgets and screens take what they show from
core/ and hold no SQL, audio code or matching of their own.
"""
