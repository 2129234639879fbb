#!/usr/bin/env python3
"""Move reporting's modules into packages by concept and split reporting/models.py by model (issue 18).

Run it from the root of a clean checkout: `python3 tools/relayout.py` (stdlib only; it calls `git mv` and,
when found, ruff). It
  1. moves every module of MODULES with `git mv`, creating the packages it needs;
  2. splits reporting/models.py into reporting/models/<concept>.py by top-level name (MODELS), computing
     each module's imports, and writes reporting/models/__init__.py re-exporting every name, so
     `from reporting.models import X` keeps working (one app, no migration, no table renamed);
  3. rewrites every import, dotted string ("reporting.feed.x", mock targets, settings) and file path
     ("reporting/feed.py") in the project's code, tests, benchmarks, settings and docs;
  4. runs `ruff check --fix --select F401,I,RUF022` and `ruff format` on the files it wrote (ruff from $RUFF,
     the PATH or .venv/bin), and marks `# noqa: E501` a line the longer names pushed past the limit.
It refuses a dirty tree, and on a tree where the moves are done it changes nothing. It does not commit:
review `git status`, run the checks and the suite, then commit.
"""

from __future__ import annotations

import ast
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tokenize
from collections import defaultdict
from pathlib import Path

# Old dotted module path -> new one. A package (reporting.fieldtypes) moves with everything inside it.
# Kept where they are on purpose: services/ (every state change; tests walk the package), views/ and api/
# (the HTTP faces), tasks.py (Celery publishes tasks by their dotted names), urls.py, admin.py, apps.py,
# access.py (the 404 helpers), params.py (request text), sql.py, demo.py, management/, migrations/.
MODULES: dict[str, str] = {
    # the catalogue: sheets, fields, revisions, field types, periods (the calendar's models: models/catalogue.py)
    "reporting.fieldtypes": "reporting.catalogue.fieldtypes",
    "reporting.periods": "reporting.catalogue.periods",
    # subscriptions and data requests, with their review
    "reporting.review": "reporting.subscriptions.review",
    # filing: the one table, its form, the Excel template, idempotency
    "reporting.onetable": "reporting.filing.onetable",
    "reporting.forms": "reporting.filing.forms",
    "reporting.excel": "reporting.filing.excel",
    "reporting.idempotency": "reporting.filing.idempotency",
    # delivery: webhooks and the feed (the outbox's state changes: services/deliveries.py)
    "reporting.webhooks": "reporting.delivery.webhooks",
    "reporting.feed": "reporting.delivery.feed",
    # reads: department data and charts, exports, burden, access records, versions shown
    "reporting.data": "reporting.reads.data",
    "reporting.exports": "reporting.reads.exports",
    "reporting.xlsx_stream": "reporting.reads.xlsx_stream",
    "reporting.burden": "reporting.reads.burden",
    "reporting.accesslog": "reporting.reads.accesslog",
    "reporting.selectors": "reporting.reads.selectors",
    # the two errors.py: the rules' codes and bilingual messages, and the HTTP layer's error answers
    "reporting.errors": "reporting.rejections",
    "reporting.api.errors": "reporting.api.error_handlers",
}

# The docstring of each package the moves create.
PACKAGES: dict[str, str] = {
    "reporting.catalogue": "The catalogue: field types (the registry), periods; its models are in models/catalogue.py.",
    "reporting.subscriptions": "Subscriptions and data requests: the review's overlaps and warnings.",
    "reporting.filing": "Filing: the one table, its form, the Excel template, idempotent requests.",
    "reporting.delivery": "Delivery: signed webhooks to allowed networks and the pull feed (the outbox: services).",
    "reporting.reads": "Reads: department data and charts, exports, burden, access records, versions shown.",
}

MODELS_SOURCE = "reporting/models.py"
MODELS_PACKAGE = "reporting.models"
# Top-level name of reporting/models.py -> module of the models package. A name not listed here (a class or
# constant added since) goes with the next listed name below it in the file (else the one above it); each
# is reported.
MODELS: dict[str, list[str]] = {
    "catalogue": [
        "CODE", "Cadence", "Status", "Bilingual", "validate_code", "Sheet", "FieldQuerySet", "Field",
        "FieldRevision", "DueRule", "DueException", "CatalogueGeneration", "Notice",
        "ZombieKind", "ZombieFlag", "ClosureLog",
    ],
    "subscriptions": [
        "SubscriptionStatus", "_running_on", "SubscriptionQuerySet", "covering_scopes", "window_holds",
        "field_asked_on", "covers_sql", "entitles_sql", "Subscription",
        "RequestStatus", "DataRequest", "RequestEvent",
    ],
    "filing": ["Submission", "SubmissionVersion", "Draft", "IdempotencyKey"],
    "delivery": ["AllowedNetwork", "Endpoint", "DeliveryStatus", "SENDABLE", "Delivery"],
    "reads": ["AccessKind", "AccessRecord", "ExportStatus", "ExportJob"],
}  # fmt: skip
MODEL_DOCS = {
    "catalogue": "The catalogue: sheets, fields and their revisions, the calendar, notices, zombies and closures.",
    "subscriptions": "Subscriptions (and the one home of the covering rule), data requests and their events.",
    "filing": "Filing: submissions, their immutable versions, drafts, idempotency keys.",
    "delivery": "Delivery: allowed networks, webhook endpoints, the outbox of deliveries.",
    "reads": "Reads: access records (who received or read what) and export jobs.",
}
APP_LABEL = "reporting"
RELATIONS = {"ForeignKey", "OneToOneField", "ManyToManyField"}

# Where references are rewritten: tracked files under these roots with these suffixes (templates, static
# and locale name no module).
ROOTS = ["core", "reporting", "tests", "bench", "tools", "docs", "dev.py", "README.md", "pyproject.toml",
         ".ci/run", "Dockerfile", "docker-compose.yml", "manage.py", ".env.example", "requirements.txt"]  # fmt: skip
SUFFIXES = {".py", ".md", ".toml", ".txt", ".yml", ".yaml", ".cfg", ".ini", ""}
SELF = Path("tools/relayout.py")


def main() -> int:
    os.chdir(git("rev-parse", "--show-toplevel").strip())
    if git("status", "--porcelain").strip():
        print("relayout: the working tree is not clean; commit or stash first", file=sys.stderr)
        return 1
    check_mapping()
    written: set[Path] = set()
    moved = move_modules(written)
    split = split_models(written)
    rewritten = rewrite_references(written)
    if not (moved or split or rewritten):
        print("relayout: nothing to do (the moves are done)")
        return 0
    tidy(sorted(p for p in written if p.suffix == ".py" and p.exists()))
    print(f"relayout: {len(moved)} modules moved, models split: {'yes' if split else 'no'}, "
          f"{len(rewritten)} files rewritten. Review `git status`, run the checks and the suite, commit.")  # fmt: skip
    return 0


def git(*args: str) -> str:
    return subprocess.run(["git", *args], check=True, capture_output=True, text=True).stdout


def check_mapping() -> None:
    news = list(MODULES.values())
    assert len(set(news)) == len(news), "two modules moved to one place"
    for old in MODULES:
        assert not any(new == old or new.startswith(old + ".") for new in news), f"{old} is also a target"
    names = [n for group in MODELS.values() for n in group]
    assert len(set(names)) == len(names), "a name in two model modules"


# 1. Moves -------------------------------------------------------------------------------------------------


def move_modules(written: set[Path]) -> list[str]:
    moved = []
    for old, new in MODULES.items():
        old_dir, new_dir = Path(*old.split(".")), Path(*new.split("."))
        if old_dir.is_dir():
            source, target = old_dir, new_dir
        else:
            source, target = old_dir.with_suffix(".py"), new_dir.with_suffix(".py")
        if not source.exists():
            if not (target.exists() or new_dir.is_dir()):
                print(f"relayout: warning: neither {source} nor {target} exists; skipped", file=sys.stderr)
            continue
        if target.exists():
            raise SystemExit(f"relayout: both {source} and {target} exist; resolve by hand")
        ensure_package(target.parent, written)
        git("mv", str(source), str(target))
        written.update([target] if target.is_file() else target.rglob("*.py"))
        moved.append(old)
        print(f"moved {source} -> {target}")
    return moved


def ensure_package(directory: Path, written: set[Path]) -> None:
    """Create `directory` as a package (and its parents up to the app) with an __init__.py."""
    if directory == Path(".") or (directory / "__init__.py").exists():
        return
    if directory.with_suffix(".py").exists():
        raise SystemExit(f"relayout: {directory.with_suffix('.py')} is in the way of the package {directory}/")
    ensure_package(directory.parent, written)
    directory.mkdir(exist_ok=True)
    init = directory / "__init__.py"
    doc = PACKAGES.get(".".join(directory.parts), "")
    init.write_text(f'"""{doc}"""\n' if doc else "", encoding="utf-8")
    git("add", str(init))
    written.add(init)


# 2. Split the models --------------------------------------------------------------------------------------


def split_models(written: set[Path]) -> bool:
    source_path = Path(MODELS_SOURCE)
    if not source_path.exists():
        return False
    text = source_path.read_text(encoding="utf-8")
    lines = text.splitlines(keepends=True)
    tree = ast.parse(text)
    body = list(tree.body)

    docstring_end = 0
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        docstring_end = body.pop(0).end_lineno or 0
    imports = [n for n in body if isinstance(n, (ast.Import, ast.ImportFrom))]
    rest = [n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom))]
    import_lines = sorted({i for n in imports for i in range(n.lineno, (n.end_lineno or n.lineno) + 1)})
    import_block = "".join(lines[i - 1] for i in import_lines)
    has_future = any(isinstance(n, ast.ImportFrom) and n.module == "__future__" for n in imports)

    # Each top-level statement with the comments above it (from the end of the previous statement).
    chunks: list[tuple[list[str], ast.stmt, str, int]] = []
    previous_end = max([docstring_end, *import_lines]) if import_lines else docstring_end
    for node in rest:
        start = min([node.lineno, *[d.lineno for d in getattr(node, "decorator_list", [])]])
        begin = previous_end + 1
        while begin < start and not lines[begin - 1].strip():
            begin += 1  # leading blank lines are not part of the chunk
        chunks.append((defined_names(node), node, "".join(lines[begin - 1 : node.end_lineno]), begin))
        previous_end = node.end_lineno or start

    home_of = {name: module for module, names in MODELS.items() for name in names}
    homes: list[str | None] = []
    for names, _node, _src, _begin in chunks:
        found = {home_of[n] for n in names if n in home_of}
        homes.append(found.pop() if len(found) == 1 else None)
    unplaced = []
    for i, (names, _node, _src, _begin) in enumerate(chunks):
        if homes[i] is None:
            after = next((h for h in homes[i + 1 :] if h), None)
            before = next((h for h in reversed(homes[:i]) if h), None)
            homes[i] = after or before or next(iter(MODELS))
            unplaced.append((names or [f"line {_node.lineno}"], homes[i]))
    for names, home in unplaced:
        print(f"relayout: models: {', '.join(names)} not in MODELS; placed in models/{home}.py", file=sys.stderr)

    module_of: dict[str, str] = {}
    for (names, _node, _src, _begin), home in zip(chunks, homes, strict=True):
        for name in names:
            module_of[name] = home  # type: ignore[assignment]

    # Cross-module relations name their model as "reporting.Name", so no module needs another at import time
    # for a relation (the string form resolves lazily; the migration state is the same).
    sources: dict[str, list[str]] = defaultdict(list)
    for (_names, node, src, begin), home in zip(chunks, homes, strict=True):
        sources[home].append(relations_as_strings(node, src, begin, home, module_of))  # type: ignore[index]

    # Which other modules' names each module uses, at import time (module or class level, outside
    # annotations) or later (function bodies, annotations).
    eager: dict[str, dict[str, set[str]]] = {m: defaultdict(set) for m in sources}
    lazy: dict[str, dict[str, set[str]]] = {m: defaultdict(set) for m in sources}
    for module, srcs in sources.items():
        sub = ast.parse("".join(s + "\n\n" for s in srcs))
        for name, is_eager in uses(sub, annotations_lazy=has_future):
            other = module_of.get(name)
            if other and other != module:
                (eager if is_eager else lazy)[module][other].add(name)
    order = import_order(list(sources), eager)
    rank = {m: i for i, m in enumerate(order)}

    package = Path(*MODELS_PACKAGE.split("."))
    git("rm", "-q", "--cached", str(source_path))
    source_path.unlink()
    package.mkdir()
    for module in order:
        head = f'"""{MODEL_DOCS.get(module, "Models.")}"""\n\n' + import_block
        top, bottom = [], []
        for other in sorted(set(eager[module]) | set(lazy[module]), key=rank.__getitem__):
            names = sorted(eager[module][other] | lazy[module][other])
            statement = f"from {MODELS_PACKAGE}.{other} import {', '.join(names)}"
            if rank[other] < rank[module]:
                top.append(statement + "\n")
            else:  # a later module, only needed once everything is loaded: imported at the end
                bottom.extend(f"from {MODELS_PACKAGE}.{other} import {n}  # noqa: E402\n" for n in names)
        text = head + "".join(top) + "\n\n" + "\n\n\n".join(s.rstrip("\n") for s in sources[module]) + "\n"
        if bottom:
            text += "\n\n# Imported last: these modules import this one first (models/__init__.py sets the order).\n"
            text += "".join(bottom)
        path = package / f"{module}.py"
        path.write_text(text, encoding="utf-8")
        written.add(path)
    wanted = names_imported_from(MODELS_PACKAGE)  # private names only when something imports them from here
    exported = [(m, [n for n in module_of if module_of[n] == m and (n[0] != "_" or n in wanted)]) for m in order]
    init = [
        '"""Models of the one reporting app, by concept; every name is importable from here."""\n\n',
        "# isort: off\n",
        "# In this order: each module imports at its top only the ones above it (relations are strings).\n",
    ]
    for module, names in exported:
        init.append(f"from {MODELS_PACKAGE}.{module} import {', '.join(names)}\n")
    init.append("# isort: on\n\n")
    everything = [n for _m, names in exported for n in names]
    if "__all__" in module_of:
        everything.remove("__all__")
    init.append("__all__ = [" + ", ".join(f'"{n}"' for n in everything) + "]\n")
    (package / "__init__.py").write_text("".join(init), encoding="utf-8")
    written.add(package / "__init__.py")
    git("add", str(package))
    print(f"split {source_path} into {', '.join(f'{package}/{m}.py' for m in order)}")
    return True


def names_imported_from(module: str) -> set[str]:
    found = set()
    for path in project_files():
        if path.suffix == ".py":
            try:
                tree = ast.parse(path.read_text(encoding="utf-8"))
            except SyntaxError:
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.module == module and node.level == 0:
                    found.update(a.name for a in node.names)
    return found


def defined_names(node: ast.stmt) -> list[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return [node.name]
    if isinstance(node, ast.Assign):
        return [n.id for t in node.targets for n in ast.walk(t) if isinstance(n, ast.Name)]
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return [node.target.id]
    return []


def relations_as_strings(node: ast.stmt, src: str, begin: int, home: str, module_of: dict[str, str]) -> str:
    """`src` (from line `begin`) with each relation to a model of another module written as "app.Model"."""
    src_lines = src.splitlines(keepends=True)
    edits = []
    for call in ast.walk(node):
        if not (isinstance(call, ast.Call) and isinstance(call.func, (ast.Attribute, ast.Name))):
            continue
        func = call.func.attr if isinstance(call.func, ast.Attribute) else call.func.id
        if func not in RELATIONS:
            continue
        targets = call.args[:1] + [k.value for k in call.keywords if k.arg in ("to", "through")]
        for target in targets:
            if isinstance(target, ast.Name) and module_of.get(target.id, home) != home:
                edits.append((target.lineno, target.col_offset, target.end_col_offset, target.id))
    for lineno, start, end, name in sorted(edits, reverse=True):
        i = lineno - begin
        line = src_lines[i]
        raw = line.encode("utf-8")
        src_lines[i] = (raw[:start] + f'"{APP_LABEL}.{name}"'.encode() + raw[end:]).decode("utf-8")
    return "".join(src_lines)


def uses(tree: ast.Module, *, annotations_lazy: bool) -> list[tuple[str, bool]]:
    """Every name read in `tree`, and whether it is read at import time."""
    found: list[tuple[str, bool]] = []

    def visit(node: ast.AST, eager: bool) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            for d in getattr(node, "decorator_list", []):
                visit(d, eager)
            args = node.args
            for default in [*args.defaults, *[d for d in args.kw_defaults if d is not None]]:
                visit(default, eager)
            if not isinstance(node, ast.Lambda):
                for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg]:
                    if a is not None and a.annotation is not None:
                        visit(a.annotation, eager and not annotations_lazy)
                if node.returns is not None:
                    visit(node.returns, eager and not annotations_lazy)
                for stmt in node.body:
                    visit(stmt, False)
            else:
                visit(node.body, False)
            return
        if isinstance(node, ast.AnnAssign):
            visit(node.annotation, eager and not annotations_lazy)
            if node.value is not None:
                visit(node.value, eager)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load):
            found.append((node.id, eager))
        for child in ast.iter_child_nodes(node):
            visit(child, eager)

    for stmt in tree.body:
        visit(stmt, True)
    return found


def import_order(modules: list[str], eager: dict[str, dict[str, set[str]]]) -> list[str]:
    """The modules in MODELS order, moved so each comes after every module it needs at import time."""
    preferred = [m for m in MODELS if m in modules] + [m for m in modules if m not in MODELS]
    order: list[str] = []
    visiting: set[str] = set()

    def place(module: str) -> None:
        if module in order:
            return
        if module in visiting:
            raise SystemExit(f"relayout: models: modules need each other at import time: {sorted(visiting)}")
        visiting.add(module)
        for other in sorted(eager[module], key=preferred.index):
            place(other)
        visiting.discard(module)
        order.append(module)

    for module in preferred:
        place(module)
    return order


# 3. References --------------------------------------------------------------------------------------------


def rewrite_references(written: set[Path]) -> list[Path]:
    dotted = sorted(MODULES, key=len, reverse=True)
    # `reporting.feed` as a whole dotted name: not inside a longer name, not followed by more identifier.
    dotted_re = re.compile(r"(?<![\w.])(" + "|".join(re.escape(d) for d in dotted) + r")(?![\w])")
    paths = {}
    for old, new in MODULES.items():
        old_p, new_p = old.replace(".", "/"), new.replace(".", "/")
        paths[old_p + ".py"] = new_p + ".py"
        paths[old_p + "/"] = new_p + "/"
        paths[old_p] = new_p  # a package named as a directory
    paths[MODELS_SOURCE] = MODELS_SOURCE.removesuffix(".py") + "/__init__.py"  # the models module, now a package
    path_re = re.compile(
        r"(?<![\w.])(?<!\w/)(" + "|".join(re.escape(p) for p in sorted(paths, key=len, reverse=True)) + r")(?![\w])"
    )
    # `from reporting import fieldtypes` left in prose (docstrings, docs) once the statements are rewritten.
    prose = {}
    for old, new in MODULES.items():
        parent, _, leaf = old.rpartition(".")
        new_parent, _, new_leaf = new.rpartition(".")
        prose[f"from {parent} import {leaf}"] = f"from {new_parent} import {new_leaf}"
    prose_re = re.compile("(?:" + "|".join(re.escape(p) for p in sorted(prose, key=len, reverse=True)) + r")(?![\w,])")
    changed = []
    for path in project_files():
        text = path.read_text(encoding="utf-8")
        new = rewrite_from_imports(text) if path.suffix == ".py" else text
        new = prose_re.sub(lambda m: prose[m.group(0)], new)
        new = dotted_re.sub(lambda m: MODULES[m.group(1)], new)
        new = path_re.sub(lambda m: paths[m.group(1)], new)
        if new != text:
            path.write_text(new, encoding="utf-8")
            written.add(path)
            changed.append(path)
    return changed


def project_files() -> list[Path]:
    files = git("ls-files", "-z", "--", *[r for r in ROOTS if Path(r).exists()]).split("\0")
    out = []
    for name in files:
        path = Path(name)
        if not name or path == SELF or not path.is_file() or path.suffix not in SUFFIXES:
            continue
        if path.suffix == "" and path.name not in ("run", "Dockerfile"):
            continue
        out.append(path)
    return out


def rewrite_from_imports(text: str) -> str:
    """`from reporting import excel, tasks` -> `from reporting.filing import excel` + `from reporting import tasks`."""
    try:
        tree = ast.parse(text)
    except SyntaxError:
        return text
    lines = text.splitlines(keepends=True)
    edits = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.ImportFrom) and node.level == 0 and node.module):
            continue
        if not any(f"{node.module}.{a.name}" in MODULES for a in node.names):
            continue
        groups: dict[str, list[str]] = defaultdict(list)
        for a in node.names:
            full = MODULES.get(f"{node.module}.{a.name}", f"{node.module}.{a.name}")
            parent, _, leaf = full.rpartition(".")
            alias = a.asname or (a.name if leaf != a.name else None)
            groups[parent].append(f"{leaf} as {alias}" if alias and alias != leaf else leaf)
        indent = lines[node.lineno - 1][: node.col_offset]
        statements = [f"from {parent} import {', '.join(names)}" for parent, names in groups.items()]
        edits.append((node.lineno, node.end_lineno, indent + ("\n" + indent).join(statements) + "\n"))
    for start, end, replacement in sorted(edits, reverse=True):
        lines[start - 1 : end] = [replacement]
    return "".join(lines)


# 4. Tidy --------------------------------------------------------------------------------------------------


def tidy(files: list[Path]) -> None:
    """Unused imports out, imports sorted, formatted; a line the longer names pushed past the limit marked."""
    local = Path(".venv/bin/ruff")
    ruff = os.environ.get("RUFF") or shutil.which("ruff") or (str(local) if local.exists() else None)
    if not ruff:
        print("relayout: ruff not found: run `ruff check --fix --select F401,I,RUF022` and `ruff format` yourself")
        return
    names = [str(f) for f in files]
    subprocess.run([ruff, "check", "--fix", "--select", "F401,I,RUF022", "--quiet", *names], check=False)
    subprocess.run([ruff, "format", "--quiet", *names], check=False)
    found = subprocess.run(
        [ruff, "check", "--select", "E501", "--output-format", "json", "--quiet", *names],
        capture_output=True,
        text=True,
        check=False,
    )
    long_lines: dict[str, set[int]] = defaultdict(set)
    for item in json.loads(found.stdout or "[]"):
        long_lines[item["filename"]].add(item["location"]["row"])
    for filename, rows in long_lines.items():
        path = Path(filename)
        text = path.read_text(encoding="utf-8")
        ends = {t.start[0] for t in tokenize.generate_tokens(io.StringIO(text).readline) if t.type in ENDS}
        lines = text.splitlines(keepends=True)
        for row in sorted(rows):
            if row in ends and "noqa" not in lines[row - 1]:
                lines[row - 1] = lines[row - 1].rstrip("\n") + "  # noqa: E501\n"
            else:
                print(f"relayout: {filename}:{row}: longer than the limit inside a string; shorten it by hand")
        path.write_text("".join(lines), encoding="utf-8")


ENDS = {tokenize.NEWLINE, tokenize.NL}

if __name__ == "__main__":
    sys.exit(main())
