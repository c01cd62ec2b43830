"""The documentation pages: generated from the committed results, every verdict number backed by a committed JSON file,
links that resolve, and the limits a reader relies on (issue 40)."""

import importlib
import json
import re
from pathlib import Path

import pytest

from experiments.records import scored_by_todays_protocol

REPO = Path(__file__).resolve().parents[1]
EXPERIMENTS = REPO / "experiments"
VERDICT_PAGE = REPO / "docs" / "results.md"
CURRENT_PAGES = [REPO / "README.md", VERDICT_PAGE, *sorted((REPO / "docs" / "reproductions").glob("*.md"))]
DECIMAL = re.compile(r"(?<![\w.])[-+]?\d+\.\d+(?![\w.])")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def script(name):
    return importlib.import_module(f"experiments.{name}")


def committed_json_values() -> set[float]:
    """Every number in the JSON files under experiments/ (the quick smoke results are not committed)."""
    values = set()

    def walk(value):
        if isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            values.add(float(value))

    for path in EXPERIMENTS.rglob("*.json"):
        if "results-quick" not in path.parts:
            walk(json.loads(path.read_text()))
    return values


def unbacked_decimals(text: str, values: set[float]) -> list[str]:
    """The decimal numbers of ``text`` that are no stored value."""
    return [token for token in DECIMAL.findall(text) if float(token) not in values]


@pytest.fixture(scope="module")
def regenerated():
    return script("regenerate_docs").committed_blocks()


def test_every_generated_block_equals_its_regeneration_from_the_committed_results(regenerated):
    assert script("regenerate_docs").stale_blocks(regenerated) == []
    names = set(regenerated)
    assert {"verdict", "what_to_use", "readme_verdict", "okada_table1", "shukla_tables", "pretrained_encoder", "serve_load",
            "cut_speed", "precision_variants", "precision_parity"} <= names


def test_a_stale_block_is_caught(regenerated, tmp_path, monkeypatch):
    docs_page = script("docs_page")
    page = tmp_path / "okada.md"
    script_name, text = regenerated["okada_table1"]
    begin, end = docs_page.markers("okada_table1", script_name)
    page.write_text(f"{begin}\n{text.replace('0.090', '0.091')}\n{end}\n")
    monkeypatch.setitem(docs_page.PAGES, "okada_table1", page)
    assert script("regenerate_docs").stale_blocks({"okada_table1": regenerated["okada_table1"]}) == ["okada_table1"]


def test_verdict_json_equals_its_recomputation():
    verdict = script("verdict")
    assert json.loads(verdict.VERDICT_JSON.read_text()) == json.loads(json.dumps(verdict.summarise()))


def test_every_decimal_number_on_the_verdict_page_is_a_committed_json_value():
    values = committed_json_values()
    text = VERDICT_PAGE.read_text()
    assert len(DECIMAL.findall(text)) > 50  # the generated tables are there
    assert unbacked_decimals(text, values) == []
    readme_rows = script("docs_page").read_block("readme_verdict", "verdict")
    assert DECIMAL.findall(readme_rows) and unbacked_decimals(readme_rows, values) == []


@pytest.mark.parametrize("page", sorted((REPO / "docs" / "reproductions").glob("*.md")), ids=lambda page: page.name)
def test_every_decimal_number_on_a_reproduction_page_is_a_committed_json_value(page):
    assert unbacked_decimals(page.read_text(), committed_json_values()) == []


def test_the_number_check_catches_a_typed_number():
    values = committed_json_values()
    assert unbacked_decimals("okada scores 0.090 ± 0.001 here, and 0.4321 in the paper", values) == []
    assert unbacked_decimals("a typed 0.7391 and a version 2.13.0 and 64 px", values) == ["0.7391"]


def test_the_pages_keep_their_limits():
    assert len(VERDICT_PAGE.read_text().splitlines()) <= 200
    readme = (REPO / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    cells = [cell for line in readme.splitlines() if line.startswith("|") for cell in line.strip("|").split("|")]
    assert cells and max(len(cell.strip()) for cell in cells) <= 200
    assert (REPO / "CONTRIBUTING.md").is_file() and not (REPO / "DEVELOPERS.md").exists()
    for page in CURRENT_PAGES:  # current results, not a lab notebook: no dates, issue numbers or status banners
        text = page.read_text()
        assert not re.search(r"\b20\d\d-\d\d-\d\d\b|\bissue \d+|\bStatus\b", text), page


def slug(heading: str) -> str:
    """GitHub's anchor of a heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_relative_link_of_the_docs_resolves_to_a_file_and_heading():
    pages = [REPO / "README.md", REPO / "CONTRIBUTING.md", *sorted((REPO / "docs").rglob("*.md"))]
    broken = []
    for page in pages:
        for target in LINK.findall(page.read_text()):
            if re.match(r"[a-z]+:", target):
                continue
            path, _, anchor = target.partition("#")
            resolved = (page.parent / path).resolve() if path else page
            if not resolved.exists():
                broken.append(f"{page.relative_to(REPO)}: {target}")
            elif anchor and resolved.suffix == ".md":
                headings = [slug(line.lstrip("#")) for line in resolved.read_text().splitlines() if line.startswith("#")]
                if anchor not in headings:
                    broken.append(f"{page.relative_to(REPO)}: {target} (no such heading)")
    assert broken == []


@pytest.mark.parametrize("baseline, method, expected, verdict", [
    ({"n": 2, "mean": 0.10, "sd": 0.01}, {"n": 2, "mean": 0.13, "sd": 0.005}, 1, "reproduced in direction"),
    ({"n": 2, "mean": 0.10, "sd": 0.01}, {"n": 2, "mean": 0.07, "sd": 0.005}, 1, "not reproduced: reversed"),
    ({"n": 2, "mean": 0.10, "sd": 0.01}, {"n": 1, "mean": 0.115}, 1, "not reproduced: level within 2 sd"),
    ({"n": 2, "mean": 0.10, "sd": 0.01}, {"n": 1, "mean": 0.07}, -1, "reproduced in direction"),
    ({"n": 2, "mean": 0.10, "sd": 0.01}, {"n": 1, "mean": 0.11}, 0, "reproduced: level within 2 sd"),
    ({"n": 1, "mean": 0.10}, {"n": 1, "mean": 0.20}, 1, "not decidable (one run a cell)"),
    ({"n": 0}, {"n": 2, "mean": 0.20, "sd": 0.01}, 1, "not yet measured"),
])
def test_a_difference_is_a_result_only_beyond_twice_the_larger_sd(baseline, method, expected, verdict):
    assert script("verdict").judge(baseline, method, expected)["verdict"] == verdict


def test_old_decoding_scores_count_only_where_no_pixel_went_to_void():
    assert scored_by_todays_protocol({"photo_to_label": {"label_decoding": "classes", "void_prediction_fraction": 0.2}})
    assert scored_by_todays_protocol({"photo_to_label": {"void_prediction_fraction": 0.0}})  # facades: same scores
    assert not scored_by_todays_protocol({"photo_to_label": {"void_prediction_fraction": 0.03}})
    assert scored_by_todays_protocol({"AtoB_rgb": {}})  # no label map scored


def test_the_papers_numbers_are_data_with_their_citations():
    tables = script("tables")
    papers = json.loads(tables.PAPERS.read_text())
    assert all(paper["citation"] for paper in papers.values())
    shukla_t1 = tables.paper_numbers("shukla2019", "table1")
    assert set(shukla_t1) == {1, 5, 10, 20} and shukla_t1[20][1][2] == 0.196  # k-medoids mean IoU with 20 pairs
    assert script("okada_table1").PAPER["okada"] == [0.5003, 0.2818, 0.1863]
