"""One list of runnable modules: the built-in declarations, and plugins by entry point."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest

from coalition.modules import ModuleKind
from coalition.services import registry
from coalition.services.almanac import ALMANAC
from coalition.services.committees import start_member
from coalition.services.module import ModuleSpec, module_organism
from coalition.services.registry import runnable, spec_of


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Entry points the registry will see (and a fresh cache around the test)."""
    found: list[SimpleNamespace] = []

    def entry_points(group: str) -> list[SimpleNamespace]:
        assert group == registry.ENTRY_POINT_GROUP
        return found

    monkeypatch.setattr(registry, "entry_points", entry_points)
    runnable.cache_clear()
    yield found
    runnable.cache_clear()


def plugin(name: str, value: object) -> SimpleNamespace:
    def load() -> object:
        if isinstance(value, Exception):
            raise value
        return value

    return SimpleNamespace(name=name, value=f"tests:{name}", load=load)


def test_the_basic_services_are_declared_once_and_runnable() -> None:
    kinds = set(runnable())
    assert {ModuleKind.ATLAS, ModuleKind.ALMANAC, ModuleKind.CHRONICLE} <= kinds
    assert spec_of(ModuleKind.ALMANAC) is ALMANAC
    assert ALMANAC.organism.kind == "almanac"


def test_a_plugin_module_is_runnable_and_bad_plugins_are_named_not_fatal(
    plugins: list[SimpleNamespace], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, "coalition.services.registry")
    randomness: ModuleSpec[object, object] = ModuleSpec(
        ModuleKind.RANDOMNESS,
        module_organism(ModuleKind.RANDOMNESS, bytes, writable=False),
        ALMANAC.machine,  # type: ignore[arg-type]
        ALMANAC.start,  # type: ignore[arg-type]
    )
    plugins += [
        plugin("randomness", randomness),
        plugin("compute", ImportError("no module named gpu")),
        plugin("atlas", randomness),  # declares another kind than its name
        plugin("no-such-module", randomness),
    ]
    mods = runnable()
    assert mods[ModuleKind.RANDOMNESS] is randomness
    assert ModuleKind.COMPUTE not in mods
    assert mods[ModuleKind.ATLAS] is not randomness  # the built-in stays
    assert "no module named gpu" in caplog.text
    assert "is not a ModuleSpec for" in caplog.text
    assert "no-such-module" in caplog.text


async def test_an_unimplemented_module_is_a_clear_error(plugins: list[SimpleNamespace]) -> None:
    with pytest.raises(ValueError, match="compute module is not implemented"):
        spec_of(ModuleKind.COMPUTE)
    with pytest.raises(ValueError, match="compute module is not implemented"):
        await start_member(ModuleKind.COMPUTE, None, None, committee=[], operator_key=None)  # type: ignore[arg-type]
