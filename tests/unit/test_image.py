"""The container image holds everything the service imports. No Docker engine answers on our
machines, so the image's files are rebuilt here from the Dockerfile's COPY steps and
.dockerignore, and a Python that sees only those files and the locked dependencies (never this
checkout) must import every module of the project and create the app."""

from __future__ import annotations

import fnmatch
import glob
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]


def instructions(dockerfile: str) -> list[tuple[str, list[str]]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    lines: list[str] = []
    pending = ""
    for raw in dockerfile.splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        lines.append(pending + line)
        pending = ""
    parsed = []
    for line in lines:
        keyword, _, rest = line.partition(" ")
        rest = rest.strip()
        words = json.loads(rest) if rest.startswith("[") else shlex.split(rest)
        parsed.append((keyword.upper(), words))
    return parsed


def ignore_patterns(text: str) -> list[str]:
    return [
        line.strip().lstrip("/")
        for line in text.splitlines()
        if line.strip() and not line.strip().startswith("#")
    ]


def ignored(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves `path` (relative to the context) out: the last pattern matching it
    or one of its parent directories decides, `!` patterns take back, `**/` matches any depth."""
    parts = PurePosixPath(path).parts
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    verdict = False
    for pattern in patterns:
        negated = pattern.startswith("!")
        body = pattern.removeprefix("!")
        forms = [body, body.removeprefix("**/")] if body.startswith("**/") else [body]
        if any(fnmatch.fnmatchcase(c, form) for c in candidates for form in forms):
            verdict = not negated
    return verdict


def context_files(context: Path, patterns: list[str]) -> list[str]:
    """The files Docker sends as the build context, relative to it."""
    found = []
    for directory, subdirectories, files in os.walk(context):
        relative = Path(directory).relative_to(context)
        # An ignored directory is pruned unless a `!` pattern may take part of it back.
        if not any(p.startswith("!") for p in patterns):
            subdirectories[:] = [
                d for d in subdirectories if not ignored(str(relative / d), patterns)
            ]
        found += [
            str(relative / name) for name in files if not ignored(str(relative / name), patterns)
        ]
    return [str(PurePosixPath(Path(f))) for f in found]


def build_files(dockerfile: str, ignore: str, context: Path, root: Path) -> Path:
    """Lay out under `root` the files the image's COPY steps put in it; answers the WORKDIR."""
    patterns = ignore_patterns(ignore)
    sent = context_files(context, patterns)
    workdir = PurePosixPath("/")
    for keyword, words in instructions(dockerfile):
        if keyword == "WORKDIR":
            workdir = workdir / words[0]
        elif keyword in {"COPY", "ADD"}:
            assert not any(w.startswith("--from") for w in words), "no multi-stage builds here"
            *sources, destination = [w for w in words if not w.startswith("--")]
            target = workdir / destination
            into_directory = destination.endswith("/") or len(sources) > 1
            for source in sources:
                base = os.path.normpath(source)
                copied_any = False
                for f in sent:
                    if base == ".":  # the whole context
                        placed = target / f
                    elif f == base or (glob.has_magic(base) and fnmatch.fnmatchcase(f, base)):
                        placed = target / PurePosixPath(f).name if into_directory else target
                    elif f.startswith(base + "/"):  # a directory: its contents
                        placed = target / f[len(base) + 1 :]
                    else:
                        continue
                    copied = root / str(placed).lstrip("/")
                    copied.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copyfile(context / f, copied)
                    copied_any = True
                assert copied_any, f"COPY {source}: no such file in the context"  # as Docker
    return root / str(workdir).lstrip("/")


#: Run by a Python started with -I -S: no site module, so no .pth file of the environment can
#: point back at this checkout; sys.path is the standard library, the image's /app and the
#: environment's site-packages (the locked dependencies `uv sync` puts in the image). That
#: environment holds the development group too, which the image leaves out: a library only it
#: brings (sniffio, through selenium's trio) is refused here as it would be missing there, so an
#: optional import of it (anyio's) falls back as in the image, and a needed one fails the run.
IMPORT_EVERYTHING = """
import importlib, json, pkgutil, re, sys
app_dir, site_packages, packages = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
in_image = set(json.loads(sys.argv[4]))
sys.path[:0] = [app_dir, site_packages]
from importlib.metadata import packages_distributions
distributions = packages_distributions()
class NotInTheImage:
    @staticmethod
    def find_spec(name, path=None, target=None):
        owners = distributions.get(name) if path is None else None
        if owners and not any(re.sub(r"[-_.]+", "-", o).lower() in in_image for o in owners):
            raise ModuleNotFoundError(f"No module named {name!r} in the image", name=name)
        return None
sys.meta_path.insert(0, NotInTheImage)
import cli.main  # the image's entry point
from console.main import app_from_environment
app_from_environment()
for package in packages:
    module = importlib.import_module(package)
    for info in pkgutil.walk_packages(module.__path__, package + "."):
        importlib.import_module(info.name)
print(json.dumps({
    "modules": {
        name: getattr(module, "__file__", None) or ""
        for name, module in sys.modules.items()
        if name.split(".")[0] in packages
    },
    "distributions": sorted({
        distribution
        for name, module in list(sys.modules.items())
        if (getattr(module, "__file__", None) or "").startswith(site_packages)
        for distribution in distributions.get(name.split(".")[0], [])
    }),
}))
"""


def normalised(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked_runtime_distributions() -> set[str]:
    """What `uv sync --locked --no-dev` installs in the image: the project's dependencies in
    uv.lock with their extras, and theirs, but none of the development group."""
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    packages = {normalised(package["name"]): package for package in lock["package"]}
    wanted = [("itsm", ())]
    found: set[str] = set()
    seen: set[tuple[str, tuple[str, ...]]] = set()
    while wanted:
        name, extras = wanted.pop()
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        found.add(name)
        package = packages[name]
        dependencies = list(package.get("dependencies", []))
        for extra in extras:
            dependencies += package.get("optional-dependencies", {}).get(extra, [])
        wanted += [(normalised(d["name"]), tuple(d.get("extra", ()))) for d in dependencies]
    return found


def shipped_packages() -> list[str]:
    """The project's packages, as its wheel (and so `uv sync` in the image) installs them."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages: list[str] = project["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"]
    return packages


def import_from_image(dockerfile: str, ignore: str, tmp: Path) -> subprocess.CompletedProcess[str]:
    app_dir = build_files(dockerfile, ignore, ROOT, tmp / "image")
    data = tmp / "data"
    data.mkdir()
    return subprocess.run(
        [
            sys.executable,
            "-I",
            "-S",
            "-c",
            IMPORT_EVERYTHING,
            str(app_dir),
            sysconfig.get_paths()["purelib"],
            json.dumps(shipped_packages()),
            json.dumps(sorted(locked_runtime_distributions())),
        ],
        capture_output=True,
        text=True,
        cwd=tmp,
        env={"PATH": os.environ.get("PATH", ""), "ITSM_DATA_DIR": str(data)},
        timeout=120,
        check=False,
    )


def test_the_image_holds_every_module_of_the_service_and_creates_the_app(tmp_path: Path) -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    ignore = (ROOT / ".dockerignore").read_text()

    ran = import_from_image(dockerfile, ignore, tmp_path)

    assert ran.returncode == 0, ran.stderr
    loaded = json.loads(ran.stdout)
    modules = loaded["modules"]
    app_dir = tmp_path / "image" / "app"
    # and every library it imported is one the image installs, not a development tool
    imported = {normalised(name) for name in loaded["distributions"]}
    assert imported, "the libraries were found"
    assert imported <= locked_runtime_distributions(), imported - locked_runtime_distributions()
    assert {"cli.main", "api.app", "audit.service", "domain"} <= modules.keys()
    assert all(Path(file).is_relative_to(app_dir) for file in modules.values()), modules
    assert (app_dir / "processes" / "import_mappings").is_dir(), "data files beside the code"
    assert not (app_dir / "tests").exists()
    assert not (app_dir / ".venv").exists()


def test_an_image_that_leaves_a_package_out_fails_this_check(tmp_path: Path) -> None:
    """The Dockerfile as it was: each package copied by hand, and `audit` forgotten."""
    listed = "\n".join(
        f"COPY {package} {package}"
        for package in (
            "domain",
            "application",
            "projections",
            "api",
            "consumers",
            "infra",
            "service",
            "processes",
            "cli",
        )
    )
    dockerfile = f"FROM python:3.11-slim\nWORKDIR /app\nCOPY pyproject.toml uv.lock ./\n{listed}\n"

    ran = import_from_image(dockerfile, (ROOT / ".dockerignore").read_text(), tmp_path)

    assert ran.returncode != 0
    assert "No module named 'audit'" in ran.stderr


def test_the_ignore_file_keeps_docker_s_meaning() -> None:
    patterns = ignore_patterns("# a comment\n/var\n**/__pycache__\ndocs\n!docs/keep.md\n")
    assert ignored("var/events.db", patterns)
    assert ignored("__pycache__/x.pyc", patterns)
    assert ignored("api/__pycache__/x.pyc", patterns)
    assert ignored("docs/a.md", patterns)
    assert not ignored("docs/keep.md", patterns)
    assert not ignored("api/app.py", patterns)
    assert not ignored("variables.py", patterns)
