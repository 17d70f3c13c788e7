"""Tests of the desk and social connectors."""
