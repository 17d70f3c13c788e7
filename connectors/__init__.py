"""Connectors to support desks (``connectors.desks``) and social networks
(``connectors.social``), found by key through ``connectors.registry``."""
