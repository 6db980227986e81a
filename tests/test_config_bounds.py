"""The config reader's bounds at their exact edges, and the refusals that name the file and key.

Written for mutmut's run over lpz/config (docs/testing.md, "Mutation tool score"): every bound is
checked at its limit (read) and one past it (refused), in-process, so that a mutant moving a bound by
one or dropping a check is seen.
"""
from __future__ import annotations

import os
import signal
from types import SimpleNamespace

import pytest

from lpz.config.files import MAX_DEPTH, MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES, read_config_tree
from lpz.config.grid import Grid
from lpz.errors import ConfigError


def refused(path, key: str, message_start: str, shown: str = "exp.yml") -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        read_config_tree(path, shown)
    error = caught.value
    assert (error.source, error.key) == (shown, key)
    assert error.message.startswith(message_start), error.message
    return error


def sized(text: str, size: int) -> str:
    """text padded with a trailing comment to exactly size bytes."""
    pad = size - len(text.encode()) - 2
    assert pad >= 0
    return text + "#" + "x" * pad + "\n"


def test_a_file_of_exactly_the_byte_bound_is_read_whole_and_one_byte_more_is_refused(tmp_path):
    exact = tmp_path / "exact.yml"
    value = "v" * (MAX_FILE_BYTES - len("a: "))  # no final newline: a read one byte short would show
    exact.write_text(f"a: {value}")
    assert exact.stat().st_size == MAX_FILE_BYTES
    data, _ = read_config_tree(exact, "exp.yml")
    assert data == {"a": value}

    over = tmp_path / "over.yml"
    over.write_text(f"a: {value}v")
    refused(over, "", f"is {MAX_FILE_BYTES + 1:,} bytes; a config file may hold at most 256 KB")


def test_an_include_tree_may_read_exactly_max_files_files(tmp_path):
    (tmp_path / "base.yml").write_text("a: 1\n")
    top = tmp_path / "exp.yml"
    top.write_text("include: [" + ", ".join(["base.yml"] * (MAX_FILES - 1)) + "]\nb: 2\n")
    data, _ = read_config_tree(top, "exp.yml")
    assert data == {"a": 1, "b": 2}

    top.write_text("include: [" + ", ".join(["base.yml"] * MAX_FILES) + "]\nb: 2\n")
    with pytest.raises(ConfigError) as caught:
        read_config_tree(top, "exp.yml")
    assert (caught.value.source, caught.value.key) == ("base.yml", "include")
    assert caught.value.message.startswith(f"the includes read more than {MAX_FILES} files")


def test_a_config_and_its_includes_may_hold_exactly_the_total_byte_bound(tmp_path):
    head = "include: [a.yml, a.yml, a.yml, a.yml]\n"
    top_size = MAX_TOTAL_BYTES - 4 * MAX_FILE_BYTES + 64  # four full includes would pass the total alone
    assert 0 < top_size
    part = (MAX_TOTAL_BYTES - top_size) // 4
    top_size = MAX_TOTAL_BYTES - 4 * part
    (tmp_path / "a.yml").write_text(sized("a: 1\n", part))
    top = tmp_path / "exp.yml"
    top.write_text(sized(head, top_size))
    data, _ = read_config_tree(top, "exp.yml")
    assert data == {"a": 1}

    top.write_text(sized(head, top_size + 1))
    with pytest.raises(ConfigError) as caught:
        read_config_tree(top, "exp.yml")
    # the last file read is the one that passes the total
    assert (caught.value.source, caught.value.key) == ("a.yml", "")
    assert caught.value.message.startswith("a config and its includes may hold at most 1024 KB")


def test_nesting_is_read_to_exactly_max_depth_levels(tmp_path):
    path = tmp_path / "exp.yml"
    inner = MAX_DEPTH - 1  # the top mapping is level 0, its value level 1, the innermost scalar MAX_DEPTH
    path.write_text("a: " + "[" * inner + "1" + "]" * inner + "\n")
    data, _ = read_config_tree(path, "exp.yml")
    value = data["a"]
    for _ in range(inner - 1):
        value = value[0]
    assert value == [1]

    path.write_text("a: " + "[" * (inner + 1) + "1" + "]" * (inner + 1) + "\n")
    refused(path, "", f"is nested deeper than {MAX_DEPTH} levels")


def test_an_alias_counts_the_depth_of_what_it_names_where_it_is_used(tmp_path):
    path = tmp_path / "exp.yml"
    deep = "[" * (MAX_DEPTH - 2) + "1" + "]" * (MAX_DEPTH - 2)  # at level 1: its scalar at MAX_DEPTH - 1
    path.write_text(f"x: &d {deep}\ny: {{z: *d}}\n")           # *d at level 2: its scalar at MAX_DEPTH
    data, _ = read_config_tree(path, "exp.yml")
    assert data["y"]["z"] == data["x"]

    path.write_text(f"x: &d {deep}\ny: {{z: {{w: *d}}}}\n")    # one level more
    refused(path, "", f"is nested deeper than {MAX_DEPTH} levels")


def test_a_value_that_contains_itself_is_refused(tmp_path):
    path = tmp_path / "exp.yml"
    path.write_text("a: &x [1, *x]\n")
    refused(path, "", "holds a value that contains itself")


def test_a_directory_is_refused(tmp_path):
    (tmp_path / "dir.yml").mkdir()
    refused(tmp_path / "dir.yml", "", "is a directory; give a YAML file")


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path):
    fifo = tmp_path / "fifo.yml"
    os.mkfifo(fifo)

    def hang(*_):
        raise TimeoutError("opening the FIFO blocked")

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(5)
    try:
        refused(fifo, "", "is not a regular file (a device, FIFO or socket); give a YAML file")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    path = tmp_path / "exp.yml"
    path.write_bytes(b"a: \xff\n")
    refused(path, "", "is not UTF-8 text; give a YAML file")


@pytest.mark.parametrize("name, message", [
    ("base.txt", "'base.txt' is not a config file"),
    ("/etc/base.yml", "'/etc/base.yml' is absolute"),
    ("~/base.yml", "'~/base.yml' is absolute"),
])
def test_an_include_must_name_a_relative_yaml_file(tmp_path, name, message):
    path = tmp_path / "exp.yml"
    path.write_text(f"include: {name!r}\n")
    refused(path, "include", message)


def test_the_origin_of_a_merged_nested_key_is_the_file_that_set_it(tmp_path):
    (tmp_path / "base.yml").write_text("trainer:\n  a: 1\n  b: 1\n")
    top = tmp_path / "exp.yml"
    top.write_text("include: base.yml\ntrainer:\n  b: 2\n")
    data, origin = read_config_tree(top, "exp.yml")
    assert data == {"trainer": {"a": 1, "b": 2}}
    # a section taken whole from an include is blamed on it; a key the top file overrides, on the top file
    assert origin == {("trainer",): "base.yml", ("trainer", "b"): "exp.yml"}


def test_a_ring_grid_from_a_config_keeps_its_radius_and_integer_cells():
    config = SimpleNamespace(rows=2, cols=4, grid=SimpleNamespace(neighbourhood="ring", radius=2))
    grid = Grid.from_config(config)
    assert grid == Grid(2, 4, "ring", 2)
    neighbours = grid.neighbourhood(0)
    assert neighbours == [0, 7, 1, 6, 2]
    assert all(type(cell) is int for cell in neighbours)

