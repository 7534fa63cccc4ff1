"""The command groups of `fieldnote` (tui/cli.py lists them): each module has `register(sub)`,
which adds its subcommands, and keeps its heavy imports inside the command functions, so that
`fieldnote --help` and the commands without a screen start quickly. `args` holds what every
command needs from its arguments: the store and session ids typed by a person."""
