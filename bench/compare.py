"""This tree against an older commit on the hot paths: `python -m bench.run compare BASE_REF [--quick] [--rounds=N]`.

Also `python3 dev.py bench --compare BASE_REF`. The older commit is checked out with `git worktree` in a
temporary folder beside this tree, and both are served by gunicorn (4 workers each, one port each) on the
province data set (bench/province.py) as this tree's benchmarks prepare it. When both commits have the same
migrations they share one database; when they differ, the base gets a copy of that database (`CREATE
DATABASE … TEMPLATE`) with the newer migrations unapplied by this tree and its own applied by the base's
code, so both read the same rows on the schema their code was written for. The report says which.

Measured, in blocks alternating between the two servers (new, old, old, new, …, so that drift on a shared
machine hits both alike):

- submit: the filings of bench/submit.py (the 200-field monthly table, a month open to filing) through
  `POST /api/v1/unit/submissions`, each with a fresh Idempotency-Key, 8 clients back to back: filings a second;
- one-table render: `GET /api/v1/unit/one-table` for this month, by cadres of other villages than those filing
  (so the state read does not change between blocks), 8 clients back to back: renders a second.

Each block's new/old ratio is taken against the other server's block of the same round; the median of those
ratios is reported against the target (≥ 0.95), and a dated section is appended to docs/benchmarks.md.
Any answer other than 2xx fails the run. To see how much a figure moves on this machine with nothing changed,
compare the tree with its own HEAD first (same code on both sides: every ratio should be 1).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REPORT = ROOT / "docs" / "benchmarks.md"
TARGET = 0.95
APPS = ("core", "reporting")  # the apps with migrations of their own; Django's come from the shared venv


def git(*args: str, cwd: Path = ROOT) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def migrations(ref: str | None, app: str) -> list[str]:
    """The migration names of `app` at `ref` (None: this tree as it is on disk)."""
    if ref is None:
        names = [p.name for p in (ROOT / app / "migrations").glob("0*.py")]
    else:
        listed = git("ls-tree", "--name-only", f"{ref}:{app}/migrations/").splitlines()
        names = [n for n in listed if n.startswith("0") and n.endswith(".py")]
    return sorted(n.removesuffix(".py") for n in names)


def migration_differences(ref: str) -> dict[str, tuple[list[str], list[str]]]:
    """Per app whose migrations differ: (only in this tree, only in the base)."""
    found = {}
    for app in APPS:
        new, old = migrations(None, app), migrations(ref, app)
        if new != old:
            found[app] = ([n for n in new if n not in old], [n for n in old if n not in new])
    return found


def database_urls(differences: dict) -> tuple[str, str, str]:
    """(this tree's DATABASE_URL, the base's, what the report says about them)."""
    url = os.environ["DATABASE_URL"]
    if not differences:
        return url, url, "one database for both (the two commits have the same migrations)"
    base, _, query = url.partition("?")
    name = base.rsplit("/", 1)[1]
    copy_url = base.rsplit("/", 1)[0] + "/" + name + "_base" + (f"?{query}" if query else "")
    said = "; ".join(
        f"{app}: {', '.join(new) or 'none'} only in this tree" + (f", {', '.join(old)} only in the base" if old else "")
        for app, (new, old) in differences.items()
    )
    own = any(old for _new, old in differences.values())
    copied = (
        f"migrations differ ({said}): the base ran on a copy of the same database (same rows, same tokens), "
        "with this tree's newer migrations unapplied" + (" and the base's own applied by its code" if own else "")
    )
    return url, copy_url, copied


def copy_for_base(url: str, copy_url: str, ref: str, worktree: Path, differences: dict) -> None:
    """The base's database: a copy of this one, migrated back to what the base's code expects."""
    from django.db import connections

    connections.close_all()  # a template database must have no other connection
    source, copy = database_name(url), database_name(copy_url)
    on_server(url, f'DROP DATABASE IF EXISTS "{copy}"', f'CREATE DATABASE "{copy}" TEMPLATE "{source}"')
    env = {**os.environ, "DATABASE_URL": copy_url}
    for app, (new, _old) in reversed(differences.items()):  # reporting's depend on core's
        if new:
            common = [n for n in migrations(None, app) if n in migrations(ref, app)]
            target = common[-1] if common else "zero"
            manage(ROOT, env, "migrate", app, target)
    if any(old for _new, old in differences.values()):
        manage(worktree, env, "migrate")


def drop_copy(copy_url: str) -> None:
    on_server(copy_url, f'DROP DATABASE IF EXISTS "{database_name(copy_url)}"')


def database_name(url: str) -> str:
    import dj_database_url

    return dj_database_url.parse(url)["NAME"]


def on_server(url: str, *statements: str) -> None:
    """Run statements outside a transaction on the `postgres` database of the server `url` names."""
    from tools.processes import server_connection

    with server_connection(url) as conn:
        for statement in statements:
            conn.execute(statement)


def manage(root: Path, env: dict, *args: str) -> None:
    subprocess.run(
        [sys.executable, "manage.py", *args, "--verbosity", "0"],
        cwd=root,
        env={**env, "PYTHONPATH": str(root)},
        check=True,
    )


def renderers(filers: list, count: int) -> list[tuple[None, dict]]:
    """GET requests of the one table by cadres of villages other than the filers' (tokens issued here)."""
    from django.db import connection

    from bench import province
    from core.models import Unit, User
    from core.tokens import issue_token

    villages = list(
        Unit.objects.filter(area__level="village", area__code__startswith=province.PROVINCE_CODE[:2])
        .order_by("area__code")
        .values_list("pk", flat=True)
    )
    filing = {f.unit for f in filers}
    step = len(villages) // count
    units = [u for u in villages[step // 2 :: step] if u not in filing][:count]
    requests = []
    for cadre in User.objects.filter(unit_id__in=units).order_by("pk"):
        token = issue_token(user=cadre, name="bench", valid_for=dt.timedelta(days=1))[1]
        requests.append((None, {"Authorization": f"Bearer {token}"}))
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE core_apitoken")
    return requests


def measured(server, path: str, requests: list, method: str) -> dict:
    """One block: 8 clients back to back; its rate, and the web server's CPU per request (CPU time is what
    other sessions on a shared machine disturb least)."""
    from bench import submit

    before = server.cpu_seconds()
    found = submit.closed_loop(server.port, path, requests, clients=8, method=method)
    return found | {"cpu_ms": 1000 * (server.cpu_seconds() - before) / found["n"]}


def main(argv: list[str]) -> int:
    from django.core.management import call_command

    from bench import submit
    from reporting.demo import demo_loaded, load_demo

    rounds_given = next((int(a.split("=", 1)[1]) for a in argv if a.startswith("--rounds=")), None)
    args = [a for a in argv if not a.startswith("--")]
    if not args:
        print(__doc__)
        return 2
    ref = args[0]
    quick = "--quick" in argv
    base_sha = git("rev-parse", "--verify", f"{ref}^{{commit}}")
    head_sha = git("rev-parse", "HEAD")
    dirty = bool(git("status", "--porcelain", "--untracked-files=no"))
    call_command("migrate", verbosity=0)
    if not demo_loaded():
        load_demo(sources=False, checks=False, deliver=False)
    months = 2 if quick else 24
    filers = submit.prepare(months)
    period = filers.periods[0]
    size, rounds, render_n = (300, 6, 300) if quick else (1000, 10, 1000)
    rounds = rounds_given or rounds
    render_requests = renderers(filers, render_n)
    render_path = f"/api/v1/unit/one-table?period={period}"
    differences = migration_differences(base_sha)
    new_url, old_url, said = database_urls(differences)
    folder = Path(tempfile.mkdtemp(prefix="onetable-base-"))
    worktree = folder / "tree"
    git("worktree", "add", "--detach", str(worktree), base_sha)
    servers: dict[str, submit.Server] = {}
    runs: dict[str, dict[str, list[dict]]] = {"new": {"submit": [], "render": []}, "old": {"submit": [], "render": []}}
    try:
        if differences:
            copy_for_base(new_url, old_url, base_sha, worktree, differences)
        # the production settings on both sides: no benchmark anchor mounted, whatever either tree has for it
        production = {"DJANGO_SETTINGS_MODULE": "core.settings", "ONETABLE_BENCH_ANCHOR": "0"}
        servers["new"] = submit.Server(workers=4, root=ROOT, DATABASE_URL=new_url, **production)
        servers["old"] = submit.Server(workers=4, root=worktree, DATABASE_URL=old_url, **production)
        for side, server in servers.items():  # warm up: each worker's catalogue, prepared statements, caches
            load = submit.Workload(filers, 80, f"warm-{side}-{time.time_ns()}")
            submit.closed_loop(server.port, submit.PATHS["api"], load.api, clients=8)
            submit.closed_loop(server.port, render_path, render_requests[:80], clients=8, method="GET")
        for r in range(rounds):
            for side in ("new", "old") if r % 2 == 0 else ("old", "new"):
                server = servers[side]
                load = submit.Workload(filers, size, f"compare-{side}-{r}-{time.time_ns()}")
                runs[side]["submit"].append(measured(server, submit.PATHS["api"], load.api, "POST"))
                runs[side]["render"].append(measured(server, render_path, render_requests, "GET"))
                done = {what: runs[side][what][-1] for what in ("submit", "render")}
                print(
                    f"round {r} {side}: "
                    + ", ".join(f"{what} {d['rate']:.0f}/s ({d['cpu_ms']:.1f} ms CPU)" for what, d in done.items()),
                    flush=True,
                )
    finally:
        for server in servers.values():
            server.stop()
        subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=ROOT, check=False)
        shutil.rmtree(folder, ignore_errors=True)
        if differences:
            drop_copy(old_url)
    figures = {
        what: {
            "new": statistics.median(r["rate"] for r in runs["new"][what]),
            "old": statistics.median(r["rate"] for r in runs["old"][what]),
            "ratios": [n["rate"] / o["rate"] for n, o in zip(runs["new"][what], runs["old"][what], strict=True)],
            "new_cpu_ms": statistics.median(r["cpu_ms"] for r in runs["new"][what]),
            "old_cpu_ms": statistics.median(r["cpu_ms"] for r in runs["old"][what]),
            "cpu_ratios": [
                o["cpu_ms"] / n["cpu_ms"] for n, o in zip(runs["new"][what], runs["old"][what], strict=True)
            ],
        }
        for what in ("submit", "render")
    }
    section = render(
        figures,
        {
            "base": base_sha[:7] if base_sha.startswith(ref) else f"{ref} ({base_sha[:7]})",
            "ref": ref,
            "head": head_sha[:7] + (" with uncommitted changes" if dirty else ""),
            "databases": said,
            "quick": quick,
            "size": size,
            "render_n": len(render_requests),
            "rounds": rounds,
            "period": period,
            "history": months,
        },
    )
    with REPORT.open("a") as report:
        report.write(section)
    print(section)
    return 0


def kept(report: str) -> str:
    """The comparison sections of an existing report, which a full `bench.run` keeps when it rewrites the rest."""
    sections = report.split("\n## ")
    return "".join("\n## " + s.rstrip("\n") + "\n" for s in sections[1:] if s.startswith(HEADING))


HEADING = "Hot paths against an older commit"


def render(figures: dict, facts: dict) -> str:
    date = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    rows = []
    labels = {
        "submit": f"submit (`POST /api/v1/unit/submissions`, {facts['size']} filings a block), filings/s",
        "render": f"one-table render (`GET /api/v1/unit/one-table`, {facts['render_n']} a block), renders/s",
    }
    for what, label in labels.items():
        f = figures[what]
        ratio = statistics.median(f["ratios"])
        verdict = "met" if ratio >= TARGET else "**missed**"
        spread = ", ".join(f"{r:.2f}" for r in f["ratios"])
        rows.append(
            f"| {label} | {f['new']:.0f} | {f['old']:.0f} | {ratio:.2f} (blocks: {spread}) | ≥ {TARGET} ({verdict}) |"
        )
        cpu = statistics.median(f["cpu_ratios"])
        spread = ", ".join(f"{r:.2f}" for r in f["cpu_ratios"])
        verdict = "met" if cpu >= TARGET else "**missed**"
        rows.append(
            f"| the same, web server CPU per request, ms (ratio: old/new) | {f['new_cpu_ms']:.1f} | "
            f"{f['old_cpu_ms']:.1f} | {cpu:.2f} (blocks: {spread}) | ≥ {TARGET} ({verdict}) |"
        )
    return "\n".join(
        [
            "",
            f"## {HEADING} ({date}{', quick mode' if facts['quick'] else ''})",
            "",
            f"`python -m bench.run compare {facts['ref']}{' --quick' if facts['quick'] else ''}"
            f" --rounds={facts['rounds']}`"
            f": this tree ({facts['head']}) against {facts['base']}, each served by gunicorn (4 workers) on"
            f" the province data set ({facts['history']} months of history), {facts['rounds']} blocks each,"
            " alternating (new, old, old, new, …), 8 clients back to back; filings of the month "
            f"{facts['period']} with fresh Idempotency-Keys, the one table of the same month by other villages' "
            f"cadres. Databases: {facts['databases']}. Every request answered 2xx. Each ratio is the median of "
            "the rounds' ratios (rates: new/old; CPU per request: old/new, so that above 1 is faster). Rates "
            "follow whatever else the machine runs; the web server's CPU time per request is disturbed less "
            "(PostgreSQL's share is not separable: other sessions' databases share its server).",
            "",
            "| what | new | old | new/old | target |",
            "|---|---|---|---|---|",
            *rows,
            "",
        ]
    )
