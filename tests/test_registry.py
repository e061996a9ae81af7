"""Registries that a broken plugin cannot break, and names that no plugin can silently take.

Entry points are replaced by ones of each test's choosing (fsfer_bench.registry looks them
up through its module-level `entry_points`), on copies of the registries, so nothing leaks.
"""

from __future__ import annotations

import dataclasses
import warnings
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from click.testing import CliRunner
from toydata import TOY_COMPOUND, register_toys

from fsfer_bench import plugins as plugins_module
from fsfer_bench.cli import main
from fsfer_bench.errors import ConfigError, FsferWarning
from fsfer_bench.methods import FeatureMethod, class_means
from fsfer_bench.plugins import scratch_registries
from fsfer_bench.registry import METHOD_GROUP, SPLIT_GROUP, get_method, method_names, register_method
from fsfer_bench.splits import Split, get_split, register_split, split_names

BROKEN = EntryPoint("broken-method", "fsfer_no_such_plugin_module", METHOD_GROUP)
FAST = ["--split", "Toy_C", "--image-size", "32", "--query", "5", "--episodes", "10", "--shot", "1",
        "--set", "train.steps=2", "--set", "train.val_every=0", "--quiet"]  # fmt: skip


class LaterMethod(FeatureMethod):
    """Nearest class mean: a plugin that loads fine after a broken one."""

    def classify(self, support_features, support_labels, query_features):
        return -((query_features[:, None] - class_means(support_features, support_labels)[None]) ** 2).sum(-1)


PLUGIN_SPLIT = Split("Plugin_C", "Toy-test", TOY_COMPOUND, ("Toy-train",), "a split from an entry point")


class Interrupted:
    """An entry point whose import is interrupted (Ctrl-C): loading stops half-way."""

    name, value = "interrupted", "somewhere"

    def load(self) -> None:
        raise KeyboardInterrupt


@pytest.fixture
def plugins(monkeypatch: pytest.MonkeyPatch):
    """install(group, *entry_points): the only entry points the registries will see, until the test ends."""
    method_names(), split_names()  # the real plugins, registered before their entry points are replaced
    installed: dict[str, list] = {}
    monkeypatch.setattr(plugins_module, "entry_points", lambda group: installed.get(group, []))
    with scratch_registries():
        yield lambda group, *eps: installed.__setitem__(group, list(eps))


def test_a_broken_plugin_is_skipped_with_one_line_and_the_next_one_loads(plugins) -> None:
    plugins(METHOD_GROUP, BROKEN, EntryPoint("later", f"{__name__}:LaterMethod", METHOD_GROUP))
    with pytest.warns(FsferWarning) as caught:
        names = method_names()
    assert "later" in names and "protonet" in names
    (warning,) = caught
    message = str(warning.message)
    assert "\n" not in message
    assert message.startswith("plugin 'broken-method' (fsfer_no_such_plugin_module) failed to import: ")
    assert "ModuleNotFoundError" in message and message.endswith("; skipped")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # loaded once: no second warning, no second import
        assert get_method("later") is LaterMethod


def test_the_broken_plugin_fails_only_when_its_own_name_is_asked_for(plugins) -> None:
    plugins(METHOD_GROUP, BROKEN)
    with pytest.warns(FsferWarning):
        assert get_method("protonet").name == "protonet"
    with pytest.raises(ConfigError) as own:
        get_method("broken-method")
    assert str(own.value).startswith("method 'broken-method' is unavailable: its plugin 'broken-method'")
    assert "ModuleNotFoundError" in str(own.value) and "fix or uninstall the plugin" in str(own.value)
    with pytest.raises(ConfigError, match="unknown method 'nosuch'; it may come from a plugin that failed"):
        get_method("nosuch")


def test_other_methods_still_run_from_the_cli(plugins, tmp_path: Path) -> None:
    register_toys()
    plugins(METHOD_GROUP, BROKEN)
    ok = CliRunner().invoke(main, ["run", "--method", "protonet", *FAST, "--out", str(tmp_path)])
    assert ok.exit_code == 0, ok.output
    assert ok.stderr.count("warning: plugin 'broken-method'") == 1
    refused = CliRunner().invoke(main, ["run", "--method", "broken-method", *FAST, "--out", str(tmp_path)])
    assert refused.exit_code == 2
    assert refused.stderr.splitlines()[-1].startswith("error: method 'broken-method' is unavailable: its plugin")


def test_a_group_is_marked_loaded_only_after_loading(plugins) -> None:
    plugins(METHOD_GROUP, Interrupted())
    with pytest.raises(KeyboardInterrupt):
        method_names()
    plugins(METHOD_GROUP, EntryPoint("later", f"{__name__}:LaterMethod", METHOD_GROUP))
    assert "later" in method_names()  # tried again, not left half-loaded


def test_a_taken_method_name_is_refused_unless_replaced(plugins) -> None:
    original = get_method("protonet")
    with pytest.raises(ConfigError, match=r"method name 'protonet' is taken by baselines\.protonet\."):
        register_method("protonet")(LaterMethod)
    assert get_method("protonet") is original
    register_method("protonet")(original)  # the same definition again (a module imported twice) is no clash
    with pytest.warns(FsferWarning, match="replaces method 'protonet'"):
        register_method("protonet", replace=True)(LaterMethod)
    assert get_method("protonet") is LaterMethod


def test_a_taken_split_name_is_refused_unless_replaced(plugins) -> None:
    original = get_split("SynFACS_C")
    other = Split("SynFACS_C", "Toy-test", TOY_COMPOUND, ("Toy-train",), "an impostor")
    with pytest.raises(ConfigError, match="split name 'SynFACS_C' is taken by .*replace=True to register_split"):
        register_split(other)
    assert get_split("SynFACS_C") is original
    register_split(dataclasses.replace(original))  # an equal split, registered again: no clash
    with pytest.warns(FsferWarning, match="replaces split 'SynFACS_C'"):
        register_split(other, replace=True)
    assert get_split("SynFACS_C") is other


def test_splits_come_from_their_entry_point_group(plugins) -> None:
    plugins(SPLIT_GROUP, EntryPoint("demo", f"{__name__}:PLUGIN_SPLIT", SPLIT_GROUP),
            EntryPoint("broken-split", "fsfer_no_such_split_module", SPLIT_GROUP))  # fmt: skip
    with pytest.warns(FsferWarning, match="plugin 'broken-split'"):
        assert get_split("plugin_c") is PLUGIN_SPLIT
    assert "Plugin_C" in split_names() and "SynFACS_C" in split_names()
    with pytest.raises(ConfigError, match="unknown split 'Nope_C'; it may come from a plugin .*'broken-split'"):
        get_split("Nope_C")


def test_run_imports_plugin_modules_first(plugins, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register_toys()
    (tmp_path / "my_fsfer_split.py").write_text(
        "from fsfer_bench.splits import Split, register_split\n"
        f"register_split(Split('Mine_C', 'Toy-test', {TOY_COMPOUND!r}, ('Toy-train',), 'a split of my own'))\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    args = ["run", "--method", "protonet", *FAST, "--split", "Mine_C", "--out", str(tmp_path / "store")]
    assert CliRunner().invoke(main, args).exit_code == 2  # unknown split without the plugin
    ok = CliRunner().invoke(main, [*args, "--plugin", "my_fsfer_split"])
    assert ok.exit_code == 0, ok.output
    assert list((tmp_path / "store" / "records" / "Mine_C" / "protonet").glob("*.json"))
    missing = CliRunner().invoke(main, [*args, "--plugin", "no_such_fsfer_module"])
    assert missing.exit_code == 2 and "plugin module 'no_such_fsfer_module' not found" in missing.stderr
