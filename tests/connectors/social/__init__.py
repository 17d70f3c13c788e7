"""Tests of the social network connectors."""
