"""One module per desk harness; each exposes ``HARNESS`` (see ``../harness.py``)."""
