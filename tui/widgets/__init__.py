"""Widgets the screens are built from. Each tells its parent what happened with a message
class nested in it, and is told what to show by its screen; none reads the store itself."""
