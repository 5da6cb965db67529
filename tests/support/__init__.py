"""Helpers shared by the tests: real local servers (HTTP, HTTPS, SMTP, a TCP proxy), a clock
that moves only when told, and pipeline builders. Nothing here is a test."""
