"""The escalation router: social mentions in, tickets only where support can help."""

__version__ = "0.1.0"
