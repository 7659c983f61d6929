"""Secrets out of what callers below admin see, and out of logs. Pure logic.

A config document holds secrets in two shapes: a password inside a URL
(`rtsp://user:pass@cam/stream`, `...?password=...`) and a value under a key that names a
secret (`password:`, `api_key:`, `token:`). Both are replaced by `MARKER`. Documents are
masked as text first, so comments and layout survive; if the masked text still parses to
something that leaks (a flow-style mapping the line rules missed), the parsed tree is
masked and dumped instead: a secret is never shown to keep a comment.

An operator who reads a masked document, edits it and sets it again must not overwrite
the real secret with `MARKER`: `restore` puts back, path by path, every value whose
masked form is what the operator sent.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import yaml

MARKER = "***"
_SECRET_WORDS = r"password|passwd|pwd|pass|secret|token|api_?key|apikey|credentials?|private_?key"
_SECRET_KEY = re.compile(rf"^(?:.*[_-])?(?:{_SECRET_WORDS})(?:[_-].*)?$", re.IGNORECASE)
_QUERY_SECRET_WORDS = rf"{_SECRET_WORDS}|key|sig|signature|auth|access_token|code"
# scheme://user:password@  (the password may be empty)
_URL_USERINFO = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.-]*://[^/\s:@'\"]*):[^/\s@'\"]*@")
# ?password=...&  or  &token=...
_QUERY_SECRET = re.compile(
    rf"(?P<head>[?&;](?:[^=&\s'\"]*[_-])?(?:{_QUERY_SECRET_WORDS})=)[^&#\s'\"]*", re.IGNORECASE
)
# `password: value` / `- api_key: "value"` in block-style YAML
_KEY_NAME = rf"[\"']?(?:[\w-]*[_-])?(?:{_SECRET_WORDS})(?:[_-][\w-]*)?[\"']?"
_KEY_LINE = re.compile(
    rf"^(?P<head>\s*(?:-\s+)?{_KEY_NAME}\s*:[ \t]+)"
    r"(?P<value>[^\s#][^#\n]*?)(?P<tail>[ \t]*(?:#.*)?)$",
    re.IGNORECASE | re.MULTILINE,
)


def is_secret_key(name: str) -> bool:
    """Whether a mapping key names a secret (`password`, `rtsp_password`, `api-key`...)."""
    return bool(_SECRET_KEY.match(name))


def mask_text(text: str) -> str:
    """URL passwords and secret query values in any text replaced by MARKER."""
    text = _URL_USERINFO.sub(rf"\g<head>:{MARKER}@", text)
    return _QUERY_SECRET.sub(rf"\g<head>{MARKER}", text)


def _mask_lines(text: str) -> str:
    masked = _KEY_LINE.sub(rf"\g<head>'{MARKER}'\g<tail>", text)
    return mask_text(masked)


def mask_tree(data: Any) -> Any:
    """A parsed document with every secret replaced (a copy; the input is not touched)."""
    if isinstance(data, dict):
        return {
            k: MARKER
            if isinstance(k, str) and is_secret_key(k) and data[k] not in (None, "")
            else mask_tree(data[k])
            for k in data
        }
    if isinstance(data, list):
        return [mask_tree(item) for item in data]
    if isinstance(data, str):
        return mask_text(data)
    return data


def leaks(data: Any) -> bool:
    """Whether a parsed document still shows a secret."""
    return bool(mask_tree(data) != data)


def mask_document(text: str) -> str:
    """A YAML/JSON document as a caller below admin may see it."""
    if not text:
        return text
    masked = _mask_lines(text)
    try:
        if not leaks(yaml.safe_load(masked)):
            return masked
        tree = yaml.safe_load(text)
    except yaml.YAMLError:
        return masked  # not YAML: the text rules are all there is
    return yaml.safe_dump(mask_tree(tree), sort_keys=False, allow_unicode=True)


def mask_url(url: str) -> str:
    """A webhook URL without its credentials; scheme and host stay.

    Password, query values and path are masked: keys often live in the path, e.g.
    `/services/T0/B0/XXXX`.
    """
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    if parts.username:
        host = f"{parts.username}{':' + MARKER if parts.password is not None else ''}@{host}"
    path = "/" + MARKER if parts.path not in ("", "/") else parts.path
    query = "&".join(
        f"{item.partition('=')[0]}={MARKER}" for item in parts.query.split("&") if item
    )
    return urlunsplit((parts.scheme, host, path, query, ""))


def restore(sent: Any, current: Any) -> tuple[Any, list[str]]:
    """`sent` with masked values put back from `current`; and the unrestorable paths.

    A value is put back when it is exactly the masked form of the value at the same path
    of `current`; a MARKER with nothing behind it is listed instead.
    """
    missing: list[str] = []

    def walk(new: Any, old: Any, path: str, secret: bool) -> Any:
        if isinstance(new, dict):
            olds = old if isinstance(old, dict) else {}
            return {
                k: walk(v, olds.get(k), f"{path}.{k}" if path else str(k), is_secret_key(str(k)))
                for k, v in new.items()
            }
        if isinstance(new, list):
            items = old if isinstance(old, list) else []
            return [
                walk(v, items[i] if i < len(items) else None, f"{path}[{i}]", False)
                for i, v in enumerate(new)
            ]
        if isinstance(new, str) and MARKER in new:
            if old not in (None, "") and new != old:
                masked = MARKER if secret else mask_text(str(old))
                if new == masked:
                    return old
            missing.append(path or "<document>")
        return new

    return walk(sent, current, "", False), missing


def restore_document(sent_text: str, sent: Any, current: Any, where: str) -> str:
    """The document to store for `sent_text` (parsed: `sent`), secrets kept.

    Itself if it holds no masked secret, else with the current secrets put back;
    ValueError naming the path if a MARKER has nothing behind it (it would replace a
    password by three asterisks).
    """
    if MARKER not in sent_text:
        return sent_text
    restored, missing = restore(sent, current)
    if missing:
        raise ValueError(
            f"{where}: {', '.join(missing)}: holds the redaction mark {MARKER!r} where the "
            "current document has no secret to keep; write the real value"
        )
    if restored == sent:
        return sent_text
    return yaml.safe_dump(restored, sort_keys=False, allow_unicode=True)
