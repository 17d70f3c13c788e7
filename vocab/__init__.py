"""The project's shared vocabulary: the records that travel between topics, the verdicts,
and the error tree. A leaf: it imports nothing of ``router``, ``connectors`` or
``classifiers``, and all three may import it (docs/architecture.md; a test enforces it).

- ``vocab.records``: ``Mention``, ``Decision``, ``TicketEvent``, ``Reply``, ``DeadLetter``,
  ``ConfigEntry`` (Faust records, JSON on the wire, versioned by ``schema``);
- ``vocab.verdicts``: ``Verdict``, what each verdict does downstream;
- ``vocab.errors``: ``RouterError`` and its branches;
- ``vocab.redact``: masking credentials in URLs and scrubbing secrets from text.
"""
