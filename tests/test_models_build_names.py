"""`python -m models.build --only`: former names build the model they now name."""

from __future__ import annotations

import pytest
import typer
from typer.testing import CliRunner

from models.build.__main__ import app, resolve_names
from models.build.recipes import RECIPES


def test_an_alias_builds_the_model_it_names() -> None:
    assert resolve_names(["nanodet-m"]) == ["nanodet-g"]
    assert resolve_names(["nanodet-m", "nanodet-g"]) == ["nanodet-g"]
    assert resolve_names(None) == list(RECIPES)
    assert resolve_names(["faceres", "nanodet-g"]) == ["nanodet-g", "faceres"]  # manifest order


def test_an_unknown_name_is_refused_naming_what_is_known() -> None:
    with pytest.raises(typer.BadParameter, match=r"\['nope'\].*nanodet-m"):
        resolve_names(["nope", "nanodet-m"])
    result = CliRunner().invoke(app, ["--only", "nope"])
    assert result.exit_code == 2
    assert "nope" in result.output
