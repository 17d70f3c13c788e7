"""The words of the one reply a customer gets when their ticket is solved."""

from __future__ import annotations

from connectors.social.base import fit_reply

from .records import Mention
from .settings import Settings

# Network post length limits (X counts every link as 23 characters).
LIMITS = {"x": 280, "mastodon": 500, "bluesky": 300, "reddit": 10_000, "generic": 1000}
LINK_WEIGHT = {"x": 23}


def template_for(settings: Settings, network: str, lang: str | None) -> str:
    """The most specific template: ``network:lang``, then ``network``, then the default."""
    t = settings.reply_templates
    if lang and f"{network}:{lang}" in t:
        return t[f"{network}:{lang}"]
    return t.get(network, settings.reply_template)


def compose(settings: Settings, m: Mention, link: str) -> str:
    """The reply text, within the network's limit, the link never cut."""
    template = template_for(settings, m.network, m.lang)
    text = template.replace("{handle}", m.author.handle).replace("{link}", "").strip()
    if "{link}" not in template:
        text = template.replace("{handle}", m.author.handle).strip()
    limit = LIMITS.get(m.network, 280)
    return fit_reply(text, link, limit, link_weight=LINK_WEIGHT.get(m.network))
