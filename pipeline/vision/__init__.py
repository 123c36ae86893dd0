"""Pixel-level helpers for stage 3: measured image facts, panel layout and content-addressed crops."""
