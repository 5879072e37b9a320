"""The docs hold together, and the repository stands on its own.

- Every relative link and image in README.md and docs/*.md resolves to a file (or folder)
  of the repository, and an ``#anchor`` into a Markdown file to one of its headings.
- No text file in the repository refers to the outside design file or to the folder
  beside the checkout, with one narrow exemption: ``loadtests/`` may name the labelled
  User-Agent corpus it reads by default (optional, and overridable on the command line).
- The README shows the two set-up commands, ``make demo`` and ``make test``.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
SKIPPED_DIRS = frozenset(
    {".git", ".venv", "build", "dist", "__pycache__", ".mypy_cache", ".ruff_cache"}
    | {".pytest_cache", ".hypothesis"}
)

# Spelt in pieces so that this file does not itself contain what it forbids.
OUTSIDE_DESIGN = "DESIGN" + ".md"
OUTSIDE_FOLDER = ".." + "/shared"
# The exemption, exactly: this path, in files under this folder.
CORPUS_DEFAULT = OUTSIDE_FOLDER + "/data/ua/devices.tsv"
CORPUS_READERS = "loadtests/"

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_INLINE_CODE = re.compile(r"(`+)(?:(?!\1).)+?\1")
_LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")
_REFERENCE = re.compile(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_HTML_ID = re.compile(r"""<a\s+(?:id|name)=["']([^"']+)["']""")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:|^//")


# -- the repository's files ------------------------------------------------------------------


def _walk(root: Path) -> Iterator[str]:
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = [
            name
            for name in subfolders
            if name not in SKIPPED_DIRS and not name.endswith(".egg-info")
        ]
        for name in names:
            yield (Path(folder) / name).relative_to(root).as_posix()


@cache
def repository_files() -> frozenset[str]:
    """Tracked files, plus new ones git does not ignore; a walk when git is unavailable."""
    try:
        listed = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
            cwd=ROOT,
            capture_output=True,
            check=True,
        ).stdout.decode("utf-8")
    except (OSError, subprocess.CalledProcessError):
        return frozenset(_walk(ROOT))
    return frozenset(name for name in listed.split("\0") if name and (ROOT / name).is_file())


def text_of(name: str) -> str | None:
    """A file's text, or None for binary files."""
    data = (ROOT / name).read_bytes()
    if b"\0" in data:
        return None
    return data.decode("utf-8", "replace")  # a Latin-1 test fixture is still searchable


# -- Markdown ----------------------------------------------------------------------------------


def prose_lines(markdown: str) -> Iterator[tuple[int, str]]:
    """(line number, line) outside fenced code blocks, inline code removed."""
    fence: str | None = None
    for number, line in enumerate(markdown.splitlines(), 1):
        found = _FENCE.match(line)
        if found is not None:
            if fence is None:
                fence = found[1]
            elif found[1] == fence:
                fence = None
            continue
        if fence is None:
            yield number, _INLINE_CODE.sub("", line)


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link reads as its text
    text = re.sub(r"[^\w\- ]", "", text.replace("`", "").lower())
    return text.replace(" ", "-")


def anchors(markdown: str) -> frozenset[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    fence: str | None = None
    for line in markdown.splitlines():
        fenced = _FENCE.match(line)
        if fenced is not None:
            if fence is None:
                fence = fenced[1]
            elif fenced[1] == fence:
                fence = None
            continue
        if fence is not None:
            continue
        found.update(_HTML_ID.findall(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading[2])
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


def link_targets(markdown: str) -> Iterator[tuple[int, str]]:
    for number, line in prose_lines(markdown):
        for target in _LINK.findall(line):
            yield number, target
        reference = _REFERENCE.match(line)
        if reference is not None:
            yield number, reference[1]


def link_problems(doc: Path, root: Path, files: frozenset[str]) -> list[str]:
    """What is wrong with the relative links of one Markdown file."""
    problems: list[str] = []
    where = doc.relative_to(root).as_posix()
    folders = {parent.as_posix() for name in files for parent in Path(name).parents}
    markdown = doc.read_text(encoding="utf-8")
    for number, target in link_targets(markdown):
        if not target or _SCHEME.match(target):
            continue  # web addresses are not checked here
        path_part, _, anchor = target.partition("#")
        destination = doc if not path_part else (doc.parent / unquote(path_part)).resolve()
        try:
            name = destination.relative_to(root.resolve()).as_posix()
        except ValueError:
            problems.append(f"{where}:{number}: {target} leads outside the repository")
            continue
        if destination != doc and name not in files and name not in folders:
            problems.append(f"{where}:{number}: {target} is not a file of the repository")
            continue
        if anchor and name.endswith(".md"):
            text = markdown if destination == doc else destination.read_text(encoding="utf-8")
            if unquote(anchor) not in anchors(text):
                problems.append(f"{where}:{number}: {target} names no heading of {name}")
    return problems


DOCS = ["README.md", *sorted(p.relative_to(ROOT).as_posix() for p in ROOT.glob("docs/*.md"))]


@pytest.mark.parametrize("doc", DOCS)
def test_relative_links_resolve(doc: str) -> None:
    assert link_problems(ROOT / doc, ROOT, repository_files()) == []


def test_the_link_check_catches_what_it_should(tmp_path: Path) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "a.md").write_text("# Title\n\n## Two words, `code`!\n", "utf-8")
    page = tmp_path / "README.md"
    page.write_text(
        "[ok](docs/a.md#two-words-code) [up](#intro) ![img](docs/a.md)\n"
        "## Intro\n"
        "[gone](docs/missing.md) [bad anchor](docs/a.md#three) [out](../elsewhere.md)\n"
        "```\n[in code](nowhere.md)\n```\n"
        "`[inline](nowhere.md)` [web](https://example.org/x.md)\n",
        "utf-8",
    )
    files = frozenset({"README.md", "docs/a.md"})
    assert link_problems(page, tmp_path, files) == [
        "README.md:3: docs/missing.md is not a file of the repository",
        "README.md:3: docs/a.md#three names no heading of docs/a.md",
        "README.md:3: ../elsewhere.md leads outside the repository",
    ]


def test_every_docs_page_is_reachable_from_the_readme() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    linked = {target.partition("#")[0] for _, target in link_targets(readme)}
    assert [doc for doc in DOCS[1:] if doc not in linked] == []


def test_readme_shows_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    commands: list[str] = []
    fence: str | None = None
    for line in readme.splitlines():
        found = _FENCE.match(line)
        if found is not None:
            fence = found[1] if fence is None else (None if found[1] == fence else fence)
        elif fence is not None:
            commands.append(line.strip())
    for command in ("make demo", "make test"):
        assert any(line.startswith(command) for line in commands), command


# -- nothing outside the repository ----------------------------------------------------------


def outside_references(name: str, text: str) -> list[str]:
    found: list[str] = []
    for number, line in enumerate(text.splitlines(), 1):
        if OUTSIDE_DESIGN in line:
            found.append(f"{name}:{number}: {line.strip()}")
            continue
        for match in re.finditer(re.escape(OUTSIDE_FOLDER), line):
            exempt = name.startswith(CORPUS_READERS) and line.startswith(
                CORPUS_DEFAULT, match.start()
            )
            if not exempt:
                found.append(f"{name}:{number}: {line.strip()}")
                break
    return found


def test_nothing_refers_outside_the_repository() -> None:
    found: list[str] = []
    for name in sorted(repository_files()):
        text = text_of(name)
        if text is not None:
            found += outside_references(name, text)
    assert found == []


def test_the_exemption_is_narrow() -> None:
    corpus_line = f'DATA = "{CORPUS_DEFAULT}"'
    assert outside_references("loadtests/x.py", corpus_line) == []
    assert outside_references("middleware/x.py", corpus_line) != []
    assert outside_references("loadtests/x.py", f"{OUTSIDE_FOLDER}/other.tsv") != []
    assert outside_references("loadtests/x.py", f"see {OUTSIDE_DESIGN}") != []
