"""Set-up shared by every test folder.

Helpers live in the `tests.support` package (imported as `tests.support.*`; pytest's
`pythonpath = ["."]` puts this folder on sys.path). Its pytest fixtures are registered here
once - `pytest_plugins` is only honoured in the root conftest - so no folder re-imports them.
"""

pytest_plugins = ["tests.support.media"]
