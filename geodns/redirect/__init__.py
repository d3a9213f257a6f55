"""The HTTP redirector: the pools' selection answered as a 302 to a member's URL."""
