"""Tracks from assigned segments, the track filter and the reconstruction metrics."""
