"""The box's side of the fleet link: enrollment, the mTLS stream, desired-state apply."""
