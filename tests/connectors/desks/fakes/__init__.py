"""Stateful fakes of each desk vendor, as httpx.MockTransport handlers."""
