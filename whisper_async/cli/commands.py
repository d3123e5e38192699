"""Placeholder; replaced as capabilities land."""
