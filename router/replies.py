"""The words of the one reply a customer gets when their ticket is solved.

Templates come from settings (``reply_template``, overridden per ``network`` or
``network:lang`` in ``reply_templates``); the composing and length fitting (the link is
never cut; X counts links as 23) are the social connectors' (``connectors.social.compose``).
"""

from __future__ import annotations

from connectors.social.compose import compose_reply
from vocab.records import Mention

from .settings import Settings


def compose(settings: Settings, m: Mention, link: str) -> str:
    """The reply text, within the network's limit, the link never cut."""
    return compose_reply(network=m.network, handle=m.author.handle, link=link, lang=m.lang,
                         templates=settings.reply_templates, default=settings.reply_template)
