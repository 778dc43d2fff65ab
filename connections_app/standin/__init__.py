"""The stand-in provider: impersonates third-party APIs on loopback for tests and the demo."""
