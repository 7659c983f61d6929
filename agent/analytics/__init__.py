"""Analytics rules over confirmed tracks: lines, zones, traffic flow, abandoned objects."""
