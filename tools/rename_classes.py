#!/usr/bin/env python3
"""Rename the fusion classes by what they are, and ``cli/options.py`` by its role (issue 20).

    python tools/rename_classes.py            # from the repository root; --root DIR elsewhere
    python tools/rename_classes.py --check    # change nothing; exit 1 if something would change

What it does, in this order (the order matters: the network must give up ``FusionClassifier``
before the scikit-learn estimator takes it):

1. ``git mv src/mefuse/cli/options.py src/mefuse/cli/shared_options.py`` (shared CLI option
   groups; ``model/options.py`` and ``utils/options.py`` are other modules);
2. in ``src/``, ``tests/``, ``benchmarks/`` (not its recorded ``results/``), ``docs/`` and
   ``README.md``, with word-boundary regexes:
   the torch network ``FusionClassifier`` -> ``FusionNetwork``;
   the scikit-learn estimator ``FusionModel`` -> ``FusionClassifier``;
   the trained model ``FusionEstimator`` -> ``TrainedModel``;
   ``mefuse.cli.options`` -> ``mefuse.cli.shared_options`` (and the path ``cli/options.py``);
3. the old names stay importable for one release with a ``DeprecationWarning``: a ``_RENAMED``
   table and a PEP 562 ``__getattr__`` (see ``mefuse.utils.deprecation``) in ``mefuse``,
   ``mefuse.estimator`` (``FusionModel``), ``mefuse.train.trainer`` (``FusionEstimator``),
   ``mefuse.model`` and ``mefuse.model.fusion`` (``FusionClassifier``, the network: the old
   meaning within ``mefuse.model``).

Re-runnable: a second run changes nothing. Lines carrying the marker ``rename-classes: keep``
(the alias tables) and files carrying ``rename-classes: skip-file`` are never rewritten.

Which ``FusionClassifier`` is which: on a tree that still has the old names (``estimator.py``
defines ``class FusionModel``) every ``FusionClassifier`` is the network. On a renamed tree
it is the estimator, except in a file that still shows the network by its old name (imports it
from ``mefuse.model``, names ``mefuse.model.fusion.FusionClassifier``, defines it as an
``nn.Module``) or that still uses only the other old names (a file merged in from a branch
that kept them). A file where old and new names meet and ``FusionClassifier`` could be either
is listed at the end and left for a person to read, as is any Python line the longer names
pushed past ruff's 100 characters (re-wrap it).

After merging branches that kept the old names: the exact way is to merge this branch's commit
*before* the rename (``j-names~1``) with the others and run this script once; merging the
renamed branch and running the script again also works, and lists any file to check by hand.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

LINE_LENGTH = 100
"""ruff's limit (pyproject.toml): a longer name can push a line past it."""

KEEP = "rename-classes: keep"
SKIP_FILE = "rename-classes: skip-file"
SCANNED = ("src", "tests", "benchmarks", "docs", "README.md")
EXCLUDED = ("benchmarks/results",)
SUFFIXES = {".py", ".md", ".yml", ".yaml", ".toml", ".txt", ".cfg", ".html", ".pyi"}

NETWORK = ("FusionClassifier", "FusionNetwork")
ESTIMATOR = ("FusionModel", "FusionClassifier")
TRAINED = ("FusionEstimator", "TrainedModel")

OPTIONS_OLD = Path("src/mefuse/cli/options.py")
OPTIONS_NEW = Path("src/mefuse/cli/shared_options.py")
MODULE_RENAMES = [
    (re.compile(r"\bmefuse\.cli\.options\b"), "mefuse.cli.shared_options"),
    (re.compile(r"\bcli/options\.py\b"), "cli/shared_options.py"),
    (re.compile(r"\bfrom mefuse\.cli import options\b"),
     "from mefuse.cli import shared_options as options"),
]

ALIASES: list[tuple[Path, dict[str, str]]] = [
    (Path("src/mefuse/__init__.py"), {ESTIMATOR[0]: ESTIMATOR[1]}),
    (Path("src/mefuse/estimator.py"), {ESTIMATOR[0]: ESTIMATOR[1]}),
    (Path("src/mefuse/train/trainer.py"), {TRAINED[0]: TRAINED[1]}),
    (Path("src/mefuse/model/__init__.py"), {NETWORK[0]: NETWORK[1]}),
    (Path("src/mefuse/model/fusion.py"), {NETWORK[0]: NETWORK[1]}),
]
"""Modules that answer their old class names for one release."""

ALIAS_DOC = '"""Old class names, importable for one release with a DeprecationWarning (PEP 562)."""'

_OLD_NAMES = re.compile(rf"\b({ESTIMATOR[0]}|{TRAINED[0]})\b")
_NEW_NAMES = re.compile(rf"\b({NETWORK[1]}|{TRAINED[1]})\b")
_AMBIGUOUS = re.compile(rf"\b{NETWORK[0]}\b")
_NETWORK_CONTEXT = [
    re.compile(rf"from mefuse\.model(?:\.fusion)? import [^\n(]*\b{NETWORK[0]}\b"),
    re.compile(rf"from mefuse\.model(?:\.fusion)? import \([^)]*\b{NETWORK[0]}\b", re.DOTALL),
    re.compile(rf"\bmefuse\.model(?:\.fusion)?\.{NETWORK[0]}\b"),
    re.compile(rf"^class {NETWORK[0]}\(nn\.Module\)", re.MULTILINE),
    re.compile(rf'"{NETWORK[0]}": "mefuse\.model'),
]
_ESTIMATOR_CONTEXT = [
    re.compile(rf"from mefuse(?:\.estimator)? import [^\n(]*\b{ESTIMATOR[1]}\b"),
    re.compile(rf"\bmefuse(?:\.estimator)?\.{ESTIMATOR[1]}\b"),
    re.compile(rf"^class {ESTIMATOR[1]}\((?!nn\.Module)", re.MULTILINE),
]


def _words(old: str, new: str) -> tuple[re.Pattern[str], str]:
    return re.compile(rf"\b{old}\b"), new


def _live(text: str) -> str:
    """The text without the lines this script must not rewrite."""
    return "\n".join(line for line in text.splitlines() if KEEP not in line)


def scanned_files(root: Path) -> list[Path]:
    """Text files this script may rewrite, relative to ``root``."""
    found: list[Path] = []
    for entry in SCANNED:
        path = root / entry
        candidates = [path] if path.is_file() else sorted(path.rglob("*")) if path.is_dir() else []
        for candidate in candidates:
            relative = candidate.relative_to(root)
            if (candidate.is_file() and candidate.suffix in SUFFIXES
                    and not any(relative.as_posix().startswith(e + "/") for e in EXCLUDED)
                    and "__pycache__" not in relative.parts):
                found.append(relative)
    return found


def tree_is_old(root: Path) -> bool:
    """Whether the estimator still has its old name (then every FusionClassifier is the net)."""
    estimator = root / "src/mefuse/estimator.py"
    if not estimator.is_file():
        return True
    return re.search(rf"^class {ESTIMATOR[0]}\b", estimator.read_text(), re.MULTILINE) is not None


def network_here(text: str, old_tree: bool, code: bool = True) -> bool | None:
    """Whether ``FusionClassifier`` in this file is the network (True), the estimator (False),
    or cannot be told (None). ``code``: a Python file, where a wrong guess breaks a name."""
    live = _live(text)
    if not _AMBIGUOUS.search(live):
        return False
    if old_tree:
        return True
    network = any(p.search(live) for p in _NETWORK_CONTEXT)
    estimator = any(p.search(live) for p in _ESTIMATOR_CONTEXT)
    if network and not estimator:
        return True
    if network and estimator:
        return None
    if code and re.search(rf"\b{NETWORK[1]}\b", live) and not estimator:
        return None  # the network by both names, or a merge put them side by side
    has_old, has_new = bool(_OLD_NAMES.search(live)), bool(_NEW_NAMES.search(live))
    if has_old and not has_new:
        return True
    if has_old and has_new and not estimator:
        return None
    return False


def rewrite(text: str, network: bool) -> str:
    """``text`` with the renames applied to every line without the keep marker."""
    renames = ([_words(*NETWORK)] if network else []) + [_words(*ESTIMATOR), _words(*TRAINED)]
    renames += MODULE_RENAMES
    lines = text.splitlines(keepends=True)
    for index, line in enumerate(lines):
        if KEEP in line:
            continue
        for pattern, new in renames:
            line = pattern.sub(new, line)
        lines[index] = line
    return "".join(lines)


def alias_block(renames: dict[str, str]) -> str:
    table = "{" + ", ".join(f'"{old}": "{new}"' for old, new in renames.items()) + "}"
    return f"_RENAMED = {table}  # {KEEP}\n{ALIAS_DOC}\n"


def add_aliases(text: str, renames: dict[str, str], path: Path) -> str:
    """``text`` with the old names answered by ``__getattr__`` (unchanged if already there)."""
    if "_RENAMED = " in text:
        return text
    hook = ("    if name in _RENAMED:\n"
            "        from mefuse.utils.deprecation import renamed\n\n"
            "        return renamed(__name__, name, _RENAMED)\n")
    existing = re.search(r"^def __getattr__\(", text, re.MULTILINE)
    if existing is None:
        return (text.rstrip("\n") + "\n\n\n" + alias_block(renames) + "\n\n"
                "def __getattr__(name: str) -> object:\n"
                '    """The old class names (see ``_RENAMED``)."""\n'
                "    from mefuse.utils.deprecation import renamed\n\n"
                "    return renamed(__name__, name, _RENAMED)\n")
    raise_line = re.compile(r"^    raise AttributeError\(", re.MULTILINE).search(
        text, existing.end())
    if raise_line is None:
        raise SystemExit(f"error: {path}: __getattr__ has no final 'raise AttributeError(' to "
                         "put the old names before; add them by hand")
    text = text[: raise_line.start()] + hook + text[raise_line.start():]
    return text[: existing.start()] + alias_block(renames) + "\n\n" + text[existing.start():]


def move_options(root: Path, check: bool) -> list[str]:
    """Rename ``cli/options.py`` to ``cli/shared_options.py`` (git mv when tracked)."""
    old, new = root / OPTIONS_OLD, root / OPTIONS_NEW
    if not old.exists():
        return []
    if new.exists():
        raise SystemExit(f"error: both {OPTIONS_OLD} and {OPTIONS_NEW} exist (a merge kept "
                         "both): move the changes of the first into the second, delete the "
                         "first, and run this script again")
    if not check:
        tracked = subprocess.run(["git", "ls-files", "--error-unmatch", str(OPTIONS_OLD)],
                                 cwd=root, capture_output=True).returncode == 0
        if tracked:
            subprocess.run(["git", "mv", str(OPTIONS_OLD), str(OPTIONS_NEW)], cwd=root,
                           check=True)
        else:
            old.rename(new)
    return [f"{OPTIONS_OLD} -> {OPTIONS_NEW}"]


def long_lines(relative: Path, before: str, after: str) -> list[str]:
    """``file:line`` of the Python lines the renames pushed past :data:`LINE_LENGTH`."""
    if relative.suffix != ".py":
        return []
    was = {line for line in before.splitlines() if len(line) > LINE_LENGTH}
    return [f"{relative}:{number}" for number, line in enumerate(after.splitlines(), 1)
            if len(line) > LINE_LENGTH and line not in was]


def run(root: Path, check: bool = False) -> tuple[list[str], list[str]]:
    """Apply every step under ``root``; return (what changed, what to read by hand)."""
    changed = move_options(root, check)
    old_tree = tree_is_old(root)
    unclear: list[str] = []
    for relative in scanned_files(root):
        path = root / relative
        text = path.read_text(encoding="utf-8")
        if SKIP_FILE in text:
            continue
        network = network_here(text, old_tree, relative.suffix == ".py")
        if network is None:
            unclear.append(f"{relative}: FusionClassifier could be the network or the estimator")
        new = rewrite(text, bool(network))
        if new != text:
            changed.append(str(relative))
            unclear += [f"{place}: longer than {LINE_LENGTH} characters now, re-wrap it"
                        for place in long_lines(relative, text, new)]
            if not check:
                path.write_text(new, encoding="utf-8")
    for relative, renames in ALIASES:
        path = root / relative
        if not path.is_file():
            continue
        text = path.read_text(encoding="utf-8")
        new = add_aliases(text, renames, relative)
        if new != text:
            changed.append(f"{relative} (old names kept)")
            if not check:
                path.write_text(new, encoding="utf-8")
    return changed, unclear


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[1],
                        help="the repository root (default: this script's repository)")
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 if something would change")
    args = parser.parse_args(argv)
    changed, unclear = run(args.root, args.check)
    verb = "would change" if args.check else "changed"
    print(f"{verb} {len(changed)} file(s)" + "".join(f"\n  {c}" for c in changed))
    if unclear:
        print("read by hand:" + "".join(f"\n  {u}" for u in unclear))
    return 1 if (args.check and changed) or unclear else 0


if __name__ == "__main__":
    sys.exit(main())
