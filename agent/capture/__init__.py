"""Capture: one reader thread per camera, from RTSP/HTTP/file/USB to decimated `Frame`s.

Import from the modules (`agent.capture.reader`, `agent.capture.source`): config imports the
source parser, so this package re-exports nothing to keep that import cycle-free.
"""
