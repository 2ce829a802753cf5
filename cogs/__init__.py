"""discord.py extensions: the Discord face of the core in `bot/`."""
