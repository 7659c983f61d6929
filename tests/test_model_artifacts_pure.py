"""The pure parts of model artifacts: the manifest schema, its canonical form, signatures
and trust extension, and warm-up matching. No fleet, no box; real shipped entries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from agent.detections import Detections
from agent.models_update.warmup import match_frame
from models import MANIFEST_PATH
from models.schema import (
    ExpectedDetection,
    ManifestSchemaError,
    Tolerance,
    canonical,
    parse_entry,
    parse_entry_text,
)
from models.signing import (
    PublicKey,
    SigningError,
    endorse,
    extend_trust,
    generate_private_key,
    key_id,
    parse_public_key,
    public_pem,
    sign_manifest,
    verify_manifest,
)

ENTRIES = json.loads(MANIFEST_PATH.read_text())["models"]


def _key() -> tuple[object, bytes]:
    pem, raw = generate_private_key()
    return load_pem_private_key(pem, None), raw


def test_every_shipped_entry_fits_the_schema_and_its_canonical_form_is_stable() -> None:
    for entry in ENTRIES:
        parsed = parse_entry(entry)
        text = canonical(parsed)
        assert canonical(parse_entry_text(text)) == text
        assert canonical(parse_entry(json.loads(json.dumps(entry, indent=4)))) == text


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda e: e["input"].update(shape=[1, 3, 416]), "input.shape[3]"),
        (lambda e: e.update(sha256="ABC"), "sha256"),
        (lambda e: e.update(surprise=1), "surprise"),
        (lambda e: e["upstream"].pop("licence"), "upstream.licence"),
        (lambda e: e["decoder"].pop("kind"), "decoder"),
        (lambda e: e.update(labels=["x" * 65]), "labels[0]"),
        (lambda e: e.update(version="1 0"), "version"),
    ],
)
def test_a_bad_entry_is_refused_naming_the_field(change: object, field: str) -> None:
    entry = json.loads(json.dumps(ENTRIES[1]))
    change(entry)  # type: ignore[operator]
    with pytest.raises(ManifestSchemaError) as info:
        parse_entry(entry, "push")
    assert str(info.value).startswith(f"push: {field}:"), info.value


def test_signatures_cover_the_canonical_entry_only() -> None:
    key, raw = _key()
    text = canonical(parse_entry(ENTRIES[1]))
    signature = sign_manifest(key, text)  # type: ignore[arg-type]
    verify_manifest(raw, text, signature)
    altered = text.replace('"score_threshold":0.45', '"score_threshold":0.05')
    assert altered != text
    with pytest.raises(SigningError, match="does not verify"):
        verify_manifest(raw, altered, signature)
    _, other_raw = _key()
    with pytest.raises(SigningError):
        verify_manifest(other_raw, text, signature)
    assert parse_public_key(public_pem(raw)) == raw == parse_public_key(raw.hex().encode())


def test_trust_extends_only_through_endorsements_by_trusted_keys() -> None:
    (root, root_raw), (mid, mid_raw), (leaf, leaf_raw), (_, rogue_raw) = (_key() for _ in range(4))
    offered = [
        PublicKey(key_id(leaf_raw), leaf_raw, "", key_id(mid_raw), endorse(mid, leaf_raw)),  # type: ignore[arg-type]
        PublicKey(key_id(mid_raw), mid_raw, "", key_id(root_raw), endorse(root, mid_raw)),  # type: ignore[arg-type]
        PublicKey(key_id(rogue_raw), rogue_raw, "", key_id(root_raw), endorse(leaf, rogue_raw)),  # type: ignore[arg-type]
        PublicKey(key_id(rogue_raw), rogue_raw),  # not endorsed at all
    ]
    trusted = extend_trust({key_id(root_raw): root_raw}, offered)
    assert set(trusted) == {key_id(root_raw), key_id(mid_raw), key_id(leaf_raw)}


def test_warm_up_matching_needs_label_overlap_and_score() -> None:
    labels = ("person", "car")
    want = [
        ExpectedDetection(label="person", box=(10, 10, 50, 100), score=0.8),
        ExpectedDetection(label="car", box=(100, 100, 200, 160), score=0.6),
    ]
    found = Detections(
        np.array([[12, 11, 51, 98], [100, 100, 200, 160], [300, 300, 310, 310]], np.float32),
        np.array([0.75, 0.2, 0.9], np.float32),
        np.array([0, 1, 0]),
    )
    # The car's score moved by 0.4: beyond the tolerance; the person matches.
    assert match_frame(want, found, labels, Tolerance()) == 1
    assert match_frame(want, found, labels, Tolerance(score=0.5)) == 2
    wrong_label = Detections(found.xyxy, found.confidence, np.array([1, 0, 0]))
    assert match_frame(want, wrong_label, labels, Tolerance(score=0.5)) == 0
