"""Outbound HTTP for sources: one hardened client and the URL safety rules it enforces."""

from bot.net.http import FetchError, HttpClient, Response
from bot.net.urlsafety import UnsafeUrlError, validate_url

__all__ = ["FetchError", "HttpClient", "Response", "UnsafeUrlError", "validate_url"]
