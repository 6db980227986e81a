"""lpz.safe_names on its own: which names pass, where the bounds are, what each refusal says, and what
path_inside does with what already exists below its folder (issue 26: mutmut's survivors here)."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from lpz.safe_names import MAX_LENGTH, MAX_PARTS, UnsafeName, check_relative, path_inside


def refusal(name, what: str | None = None) -> str:
    with pytest.raises(UnsafeName) as refused:
        check_relative(name) if what is None else check_relative(name, what)
    return str(refused.value)


@pytest.mark.parametrize("name", ["x.gz", "a/b/c.pt", "_a/0-9/A+b.c_d", "a" * 255, "/".join(["a"] * MAX_PARTS),
                                  "/".join(["a" * 31] * 32)])
def test_plain_relative_names_pass_as_they_are(name):
    assert check_relative(name) == name


def test_the_bounds_are_inclusive():
    longest = "/".join(["b" * 255] * 4)[:-1] + "/c"  # 5 parts, none over 255
    assert len(longest) == MAX_LENGTH and check_relative(longest) == longest
    assert "longer than 1024 characters" in refusal(longest + "d")
    assert check_relative("/".join(["p"] * MAX_PARTS))
    assert refusal("/".join(["p"] * (MAX_PARTS + 1))).startswith("name 'p/p/p/p/p/")  # the name, escaped...
    assert "has more than 32 parts" in refusal("/".join(["p"] * (MAX_PARTS + 1)))  # ...and why
    assert "characters other than" in refusal("a" * 256)  # one part: 255 at most


@pytest.mark.parametrize("name, why", [
    ("", "is empty or longer than"),
    ("/etc/passwd", "is absolute or holds a backslash"),
    ("a\\b", "is absolute or holds a backslash"),
    ("a//b", "holds an empty part, '.' or '..'"),
    ("a/./b", "holds an empty part, '.' or '..'"),
    ("../b", "holds an empty part, '.' or '..'"),
    ("a/", "holds an empty part, '.' or '..'"),
    (".hidden", "characters other than letters, digits and ._+-"),
    ("a b", "characters other than letters, digits and ._+-"),
    ("x.gz\n", "characters other than letters, digits and ._+-"),
])
def test_each_refusal_says_why_and_names_what_was_refused(name, why):
    message = refusal(name, "file name")
    assert message.startswith("file name ") and why in message, message
    if name:
        assert repr(name)[:20] in message  # the name itself, escaped


def test_a_name_that_is_not_text_is_refused_as_such():
    assert refusal(7) == "name 7 is not text"
    assert refusal(None, "key") == "key None is not text"


def test_path_inside_gives_the_path_below_the_folder(tmp_path):
    assert path_inside(tmp_path, "a/b/c.gz") == tmp_path / "a" / "b" / "c.gz"  # nothing exists yet
    (tmp_path / "a" / "b").mkdir(parents=True)
    assert path_inside(tmp_path, "a/b/c.gz") == tmp_path / "a" / "b" / "c.gz"  # its folders exist
    (tmp_path / "a" / "b" / "c.gz").write_bytes(b"x")
    assert path_inside(tmp_path, "a/b/c.gz", "file") == tmp_path / "a" / "b" / "c.gz"  # and the file
    with pytest.raises(UnsafeName, match="^file '/a' is absolute"):
        path_inside(tmp_path, "/a", "file")


def test_path_inside_refuses_a_link_anywhere_below_the_folder(tmp_path):
    outside = tmp_path / "outside"
    (outside / "b").mkdir(parents=True)
    (outside / "b" / "c.gz").write_bytes(b"x")
    folder = tmp_path / "folder"
    folder.mkdir()
    os.symlink(outside, folder / "a")
    with pytest.raises(UnsafeName) as refused:
        path_inside(folder, "a/b/c.gz", "file name")
    assert str(refused.value) == (f"file name 'a/b/c.gz': {folder / 'a'} is a symbolic link; lpz writes only real "
                                  f"files inside {folder}")
    (folder / "real").mkdir()
    os.symlink(outside / "b" / "c.gz", folder / "real" / "c.gz")  # the last part a link
    with pytest.raises(UnsafeName, match="is a symbolic link"):
        path_inside(folder, "real/c.gz")


@pytest.mark.parametrize("make, name, why", [
    (lambda f: (f / "a").write_bytes(b"x"), "a/b.gz", "a"),  # a file where a folder belongs
    (lambda f: (f / "a" / "b.gz").mkdir(parents=True), "a/b.gz", "a/b.gz"),  # a folder where the file belongs
    (lambda f: os.mkfifo(f / "b.gz"), "b.gz", "b.gz"),  # neither a file nor a folder
])
def test_path_inside_refuses_what_is_not_a_folder_above_or_a_regular_file_at_the_end(tmp_path, make, name, why):
    make(tmp_path)
    kind = "a folder" if why != name else "a regular file"
    with pytest.raises(UnsafeName) as refused:
        path_inside(tmp_path, name, "file name")
    assert str(refused.value) == f"file name {name!r}: {tmp_path / why} exists and is not {kind}"


def test_path_inside_checks_the_name_first(tmp_path):
    with pytest.raises(UnsafeName, match="^name '../x' holds an empty part"):
        path_inside(tmp_path, "../x")
    assert path_inside(Path("relative"), "x") == Path("relative/x")
