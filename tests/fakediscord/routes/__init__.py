"""REST route tables, one module per area of Discord's API; the server wires them all up."""

from . import application, channels, guilds, interactions, webhooks
from .common import RouteSpec

ALL_ROUTES: list[RouteSpec] = [
    *application.ROUTES,
    *channels.ROUTES,
    *webhooks.ROUTES,
    *interactions.ROUTES,
    *guilds.ROUTES,
]
