"""Runtime: the box's shared inference worker and the per-camera loops that feed it."""
