"""Capture: one reader thread per camera, from RTSP/HTTP/file/USB to decimated `Frame`s.

Import from the modules (`agent.capture.reader`, `agent.capture.source`). Parsing a source
string is `agent.config.source`; this package only opens and reads.
"""
