"""The screens, one module each, and the modal dialogs they open (`dialogs`). A screen
coordinates its widgets (attributes down, messages up), runs slow work in workers and turns
core's UserErrors into notifications. review.tcss styles the screens after the interview,
setup.tcss the recording's setup; tui/fieldnote.tcss is the application's own."""
