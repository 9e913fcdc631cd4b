"""Figures shared by several chapters."""
