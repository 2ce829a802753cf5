"""Moderation logic with no Discord objects: policy, warnings, tuning and charts."""
