"""The operations-centre web console served by the fleet (`oko-fleet serve --console`).

Pages: alerts (live, with evidence and two-person confirmation), events (live), cameras
(health by site, live views on demand), counts and traffic charts, and the audit log with
its verification. See docs/console.md. Importing this package loads nothing heavy: the
web server's modules are imported only when the console is started.
"""
