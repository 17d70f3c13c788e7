"""Tests of the support desk connectors."""
