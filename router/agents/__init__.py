"""The router's agents: one module each, thin loops around pure functions."""
