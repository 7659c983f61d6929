"""`oko-agent demo`: a whole fleet and one enrolled box on this machine, on real footage.

Every hop is the real one: a fleet server process with its own CA, a single-use token,
enrollment by CSR, the camera pipeline on the bundled clip, the SQLite spool, the mTLS
uplink stream, and an operations-centre subscriber on the event stream.
"""
