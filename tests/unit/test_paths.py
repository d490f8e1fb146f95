"""tests/_paths.py: a missing upstream reference skips with a reason naming it, except under CI, where it fails."""
import pytest

from ansible_collections.auditops.deckhouse.tests import _paths


def test_present_path_is_returned(tmp_path):
    assert _paths.require(str(tmp_path)) == str(tmp_path)


def test_missing_reference_skips_naming_the_path(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as caught:
        _paths.require(str(tmp_path / "shared"))
    assert str(tmp_path / "shared") in str(caught.value) and "skipped" in str(caught.value)


def test_missing_reference_fails_in_ci(tmp_path, monkeypatch):
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as caught:
        _paths.require(str(tmp_path / "shared"))
    assert str(tmp_path / "shared") in str(caught.value)


def test_needs_runs_the_test_only_where_the_path_exists(tmp_path, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    calls = []
    _paths.needs(str(tmp_path))(lambda: calls.append(1))()
    assert calls == [1]
    with pytest.raises(pytest.skip.Exception):
        _paths.needs(str(tmp_path / "absent"))(lambda: calls.append(2))()
    assert calls == [1]
