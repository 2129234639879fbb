"""What a fresh clone holds is enough to read the docs: every relative link resolves inside the repository."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def test_every_relative_link_in_the_docs_points_at_a_file_of_the_repository():
    broken = []
    for doc in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "bench").glob("*.md"))]:
        for target in LINK.findall(doc.read_text()):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.exists() or ROOT not in resolved.parents:
                broken.append(f"{doc.relative_to(ROOT)} → {target}")
    assert broken == []


def test_the_readme_points_at_the_architecture_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    assert "](docs/architecture.md)" in readme
    architecture = (ROOT / "docs" / "architecture.md").read_text()
    for heading in ("## Words", "## The path of a filing", "## Where each rule is enforced", "differs from the design"):
        assert heading in architecture
