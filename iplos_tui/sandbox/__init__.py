"""Loopback reference servers, test certificates and synthetic data for tests and demos."""
