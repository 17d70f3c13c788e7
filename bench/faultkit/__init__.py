"""The fault harness's parts: a broker and workers on loopback, the cases, the loopback
desk server. Everything here is black-box: the router is driven through its CLI, its
``ROUTER_*`` settings, its HTTP endpoints and its topics, never through its internals."""
