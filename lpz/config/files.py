"""Reading config files: YAML with includes, bounded so that no file can exhaust memory or hang.

A config file is untrusted input (it may come from a colleague or a repository), so reading it is
limited in every dimension that could blow up: the bytes of each file and of all files together,
the number of files an include tree may read, the number of values after YAML aliases expand (a
"billion laughs" file is a few hundred bytes), and the nesting depth. Only regular files are read
(never a device, a FIFO or a directory), includes must name .yml/.yaml files by relative paths, and
error messages show at most a short, escaped excerpt of a value.

A file may `include:` a base file (or a list of them), given relative to itself; the including
file wins key by key. `read_config_tree` returns the merged data and, for every key path, the file
it came from (so that an error names the file to fix).
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path

import yaml

from lpz.errors import ConfigError, excerpt

MAX_FILE_BYTES = 256 * 1024    # one config file; the shipped ones are under 2 KB
MAX_TOTAL_BYTES = 1024 * 1024  # a config and everything it includes
MAX_FILES = 32                 # files read for one config, counting a file included twice twice
MAX_VALUES = 10_000            # values (mappings, lists, scalars) once YAML aliases are expanded
MAX_DEPTH = 16                 # nesting levels; a config needs 4


class _Loader(yaml.SafeLoader):
    """YAML 1.1 reads 2e-4 as a string; configs are full of such numbers."""


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"""^[-+]?(?:[0-9][0-9_]*\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[0-9][0-9_]*[eE][-+]?[0-9]+
                   |\.[0-9_]+(?:[eE][-+]?[0-9]+)?|\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$""", re.X),
    list("-+0123456789."),
)


class _Budget:
    """What the files of one config may still use."""

    def __init__(self):
        self.files, self.bytes = 0, 0

    def spend(self, size: int, shown: str) -> None:
        self.files += 1
        self.bytes += size
        if self.files > MAX_FILES:
            raise ConfigError(shown, "include", f"the includes read more than {MAX_FILES} files; "
                                                f"a config needs a few, so simplify the include tree")
        if self.bytes > MAX_TOTAL_BYTES:
            raise ConfigError(shown, "", f"a config and its includes may hold at most {MAX_TOTAL_BYTES // 1024} KB; "
                                         f"configs are small YAML files")


def read_config_tree(path: Path, shown: str) -> tuple[dict, dict]:
    """The merged data of a config file and its includes, and the file each key path came from."""
    origin: dict = {}
    return _load_with_includes(path, shown, origin, (), _Budget()), origin


def _read_bytes(path: Path, shown: str, budget: _Budget) -> bytes:
    """The bytes of a regular file of at most MAX_FILE_BYTES; never blocks on a FIFO or a device."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise ConfigError(shown, "", "no such file; give the path of a YAML config, "
                                     "e.g. configs/quickstart.yml") from None
    except OSError as e:
        raise ConfigError(shown, "", f"cannot open it ({e.strerror}); give a readable YAML file") from None
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a directory" if stat.S_ISDIR(info.st_mode) else "not a regular file (a device, FIFO or socket)"
            raise ConfigError(shown, "", f"is {kind}; give a YAML file")
        if info.st_size > MAX_FILE_BYTES:
            raise ConfigError(shown, "", f"is {info.st_size:,} bytes; a config file may hold at most "
                                         f"{MAX_FILE_BYTES // 1024} KB")
        data = os.read(fd, MAX_FILE_BYTES + 1)
    except OSError as e:
        raise ConfigError(shown, "", f"cannot read it ({e.strerror}); give a readable YAML file") from None
    finally:
        os.close(fd)
    if len(data) > MAX_FILE_BYTES:  # it grew while we read it
        raise ConfigError(shown, "", f"holds more than {MAX_FILE_BYTES // 1024} KB; a config file may hold at most that")
    budget.spend(len(data), shown)
    return data


def _read_yaml(path: Path, shown: str, budget: _Budget) -> dict:
    try:
        text = _read_bytes(path, shown, budget).decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(shown, "", "is not UTF-8 text; give a YAML file") from None
    loader = None
    try:
        loader = _Loader(text)
        root = loader.get_single_node()
        _check_shape(root, shown)
        data = loader.construct_document(root) if root is not None else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}: " if mark else ""
        problem = getattr(e, "problem", None) or "a syntax error"
        fix = ("indent with spaces, not tabs" if "\\t" in problem
               else "check the indentation, the ':' after each key and the quotes there")
        raise ConfigError(shown, "", f"{where}not valid YAML ({excerpt(problem, 80)}); {fix}") from None
    except RecursionError:
        raise ConfigError(shown, "", f"is nested too deeply; a config has at most {MAX_DEPTH} levels") from None
    except ValueError:  # a number with thousands of digits: Python refuses to convert it
        raise ConfigError(shown, "", "holds a number too long to read; numbers in a config have a few digits") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        raise ConfigError(shown, "", "is empty; a config needs at least dataloader.dataset_name and network.name "
                                     "(see configs/quickstart.yml)")
    if not isinstance(data, dict):
        kind = "list" if isinstance(data, list) else "single value"
        raise ConfigError(shown, "", f"the top level must be a mapping of sections (dataloader:, network:, trainer:, "
                                     f"...), not a {kind}; start each section at the beginning of a line, without '-'")
    return data


def _check_shape(root, shown: str) -> None:
    """Refuse a document that is too big once its aliases expand, too deep, or that repeats a key.

    The node graph shares aliased nodes, so their sizes are memoised: the walk is linear in the
    file, however many values the aliases would expand to."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (values when expanded, levels below it)
    in_progress: set[int] = set()

    def measure(node, depth: int, keys: tuple) -> tuple[int, int]:
        if depth > MAX_DEPTH:
            raise ConfigError(shown, "", f"is nested deeper than {MAX_DEPTH} levels; a config needs 4")
        if id(node) in measured:
            size, height = measured[id(node)]
            if depth + height > MAX_DEPTH:
                raise ConfigError(shown, "", f"is nested deeper than {MAX_DEPTH} levels; a config needs 4")
            return size, height
        if id(node) in in_progress:
            raise ConfigError(shown, "", "holds a value that contains itself (a recursive YAML alias); remove it")
        in_progress.add(id(node))
        size, height = 1, 0
        if isinstance(node, yaml.SequenceNode):
            children = [(item, keys) for item in node.value]
        elif isinstance(node, yaml.MappingNode):
            _refuse_repeated_keys(node, keys, shown)
            children = [(child, keys + (str(key_node.value),))
                        for key_node, value_node in node.value for child in (key_node, value_node)]
        else:
            children = []
        for child, child_keys in children:
            child_size, child_height = measure(child, depth + 1, child_keys)
            size += child_size
            height = max(height, child_height + 1)
            if size > MAX_VALUES:
                raise ConfigError(shown, "", f"expands to more than {MAX_VALUES:,} values (YAML aliases that "
                                             f"repeat each other?); a config holds a few dozen")
        in_progress.discard(id(node))
        measured[id(node)] = (size, height)
        return size, height

    if root is not None:
        measure(root, 0, ())


def _refuse_repeated_keys(node: yaml.MappingNode, keys: tuple, shown: str) -> None:
    # YAML keeps the last of two equal keys without a word: a section written twice would lose the first.
    first_line: dict = {}
    for key_node, _ in node.value:
        key, line = key_node.value, key_node.start_mark.line + 1
        if not isinstance(key, str):
            continue  # a list or mapping as a key: the constructor refuses it
        if key in first_line and key != "<<":
            raise ConfigError(shown, ".".join(excerpt(k, 40) if len(k) > 40 else k for k in keys + (key,)),
                              f"given twice (lines {first_line[key]} and {line}); YAML would keep only the "
                              f"last, so merge them into one")
        first_line[key] = line


def _merge(base: dict, top: dict, origin: dict, top_file: str, prefix=()) -> dict:
    """Deep-merge top over base; record in origin which file each key path came from."""
    merged = dict(base)
    for key, value in top.items():
        path = prefix + (key,)
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value, origin, top_file, path)
        else:
            merged[key] = value
            origin[path] = top_file
    return merged


def _include_names(data: dict, shown: str) -> list[str]:
    includes = data.pop("include", [])
    if isinstance(includes, str):
        includes = [includes]
    if not isinstance(includes, list) or not all(isinstance(i, str) for i in includes):
        raise ConfigError(shown, "include", f"must be a file name or a list of file names, got {excerpt(includes)}; "
                                            f"e.g. include: base.yml")
    for name in includes:
        if not name.endswith((".yml", ".yaml")):
            raise ConfigError(shown, "include", f"{excerpt(name)} is not a config file: includes name .yml or "
                                                f".yaml files, e.g. include: base.yml")
        if os.path.isabs(name) or name.startswith("~"):
            raise ConfigError(shown, "include", f"{excerpt(name)} is absolute; include paths are relative to the "
                                                f"including file, e.g. include: ../mnist.yml")
    return includes


def _load_with_includes(path: Path, shown: str, origin: dict, chain: tuple, budget: _Budget) -> dict:
    """chain: (resolved path, shown name) of the files that include this one, outermost first."""
    data = _read_yaml(path, shown, budget)
    includes = _include_names(data, shown)
    chain = chain + ((path.resolve(), shown),)
    merged: dict = {}
    for name in includes:
        child = path.parent / name
        child_shown = str(Path(shown).parent / name)
        earlier = [resolved for resolved, _ in chain]
        if child.resolve() in earlier:
            cycle = [named for _, named in chain[earlier.index(child.resolve()):]] + [child_shown]
            raise ConfigError(shown, "include", f"{excerpt(name)} makes a cycle of includes "
                                                f"({' -> '.join(cycle)}); remove one of them")
        if not child.exists():
            raise ConfigError(shown, "include", f"{excerpt(name)} not found (no file {child_shown}); include paths "
                                                f"are relative to the including file")
        merged = _merge(merged, _load_with_includes(child, child_shown, origin, chain, budget), origin, child_shown)
    return _merge(merged, data, origin, shown)
