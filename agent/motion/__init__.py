"""Motion gate: which parts of a frame the detector must look at, and merging its answers."""
