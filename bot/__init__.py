"""commentwarden: mirror article comment threads into Discord, score them, keep a moderation log."""

__version__ = "0.1.0"
