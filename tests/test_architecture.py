"""The layering of docs/architecture.md, checked on the source: no import cycle in src/semicycle or in the
experiments package, no import of a higher layer, the config without torch, no module over 400 lines, the
experiments' driver (experiments/common.py) at most 300 lines and no experiment editing ``sys.path``.

Imports are read with ``ast`` (module level, inside functions and under ``TYPE_CHECKING`` alike) and resolved
to the package's modules (relative imports included); importing ``pkg.sub.mod`` from outside ``pkg.sub`` also
runs ``pkg/sub/__init__.py``, so it counts as importing that package too. The checker is tested on small
packages written to a temporary folder (a planted cycle, a planted upward import).
"""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "semicycle"
EXPERIMENTS = ROOT / "experiments"
MAX_MODULE_LINES = 400
MAX_EXPERIMENT_DRIVER_LINES = 300  # experiments/common.py

# The layers of src/semicycle, lowest first: a module imports modules of its own room (its first name under
# semicycle, "" for the package front) or of a room in a lower layer, never one of the same layer or above.
LAYERS = [
    {"errors", "version"},  # the ground
    {"atomic", "settings", "package_files"},
    {"method_settings", "config_sections", "checkpoints", "runtime", "models", "losses", "figures"},
    {"config", "pretrained"},
    {"data"},
    {"methods", "translation", "backends"},
    {"engine", "api", "export"},  # training; inference (the one path: api); writing files (export): none imports another
    {"evaluation", "selection", "serving"},
    {"cli", ""},  # the fronts: the command line and the package's public functions
    {"__main__"},  # python -m semicycle: the command line
]
EXPERIMENT_FORBIDDEN = ("semicycle.methods", "semicycle.models", "semicycle.runtime", "semicycle.engine.trainer")


def package_modules(src: Path) -> dict[str, Path]:
    """Dotted module name -> file, for the package in folder ``src`` (its name is the folder's)."""
    modules = {}
    for path in sorted(src.rglob("*.py")):
        parts = (src.name, *path.relative_to(src).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def imported_names(path: Path, module: str, is_package: bool, modules=None) -> set[str]:
    """Absolute names a file imports, relative imports resolved; ``from x import y``: ``x.y`` where that is one of
    ``modules``, else ``x`` (without ``modules``: both)."""
    package = module if is_package else module.rpartition(".")[0]
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            for alias in node.names:
                name = f"{base}.{alias.name}"
                names.update([name] if modules is not None and name in modules else
                             [base] if modules is not None else [base, name])
    return names


def import_graph(src: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (each imported module's enclosing packages below the root
    included, unless the importer lies inside them)."""
    modules = package_modules(src)
    graph = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(path, module, path.name == "__init__.py", modules):
            if name not in modules or name == module:
                continue
            targets.add(name)
            parts = name.split(".")
            for depth in range(2, len(parts)):  # the packages between the root and the module
                enclosing = ".".join(parts[:depth])
                if not module.startswith(enclosing + "."):
                    targets.add(enclosing)
        graph[module] = targets
    return graph


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan), each sorted: every import cycle lies in one."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def room_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def upward_imports(graph: dict[str, set[str]], layers: list[set[str]]) -> list[str]:
    """Imports of a room in the same layer or a higher one, and modules in no layer."""
    rank = {room: i for i, layer in enumerate(layers) for room in layer}
    problems = [f"{module} is in no layer" for module in sorted(graph) if room_of(module) not in rank]
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            here, there = room_of(module), room_of(target)
            if here != there and here in rank and there in rank and rank[there] >= rank[here]:
                problems.append(f"{module} (layer {rank[here]}) imports {target} (layer {rank[there]})")
    return problems


@pytest.mark.parametrize("package", [SRC, EXPERIMENTS], ids=["src/semicycle", "experiments"])
def test_the_package_has_no_import_cycle(package):
    assert import_cycles(import_graph(package)) == []


def test_no_module_imports_its_own_layer_or_above():
    assert upward_imports(import_graph(SRC), LAYERS) == []


def write_package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_checker_finds_a_planted_cycle_through_a_function_level_relative_import(tmp_path):
    pkg = write_package(tmp_path / "pkg", {
        "__init__.py": "",
        "low.py": "def late():\n    from .high import helper\n    return helper\n",  # the cycle closes in a function
        "high.py": "from pkg.mid import thing\n",
        "mid/__init__.py": "",
        "mid/thing.py": "from .. import low\n",  # "from .. import low" is the module pkg.low
        "apart.py": "import pkg.low\n",
    })
    graph = import_graph(pkg)
    assert graph["pkg.mid.thing"] == {"pkg.low"} and graph["pkg.high"] == {"pkg.mid", "pkg.mid.thing"}
    assert import_cycles(graph) == [["pkg.high", "pkg.low", "pkg.mid.thing"]]
    (pkg / "low.py").write_text("def late():\n    return None\n")
    assert import_cycles(import_graph(pkg)) == []


def test_the_checker_finds_a_planted_upward_import_and_a_module_in_no_layer(tmp_path):
    pkg = write_package(tmp_path / "pkg", {
        "__init__.py": "",
        "ground.py": "",
        "engine/__init__.py": "",
        "engine/loop.py": "from ..ground import x\nfrom . import state\n",  # down, and within its own room
        "engine/state.py": "",
        "api.py": "from .engine.loop import run\n",
        "export.py": "",
    })
    layers = [{"ground"}, {"engine"}, {"api", "export"}, {""}]
    assert upward_imports(import_graph(pkg), layers) == []
    (pkg / "engine" / "state.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from ..api import Translator\n")
    (pkg / "export.py").write_text("def f():\n    from pkg import api\n")  # a room of the same layer
    (pkg / "engine" / "loop.py").write_text("from .. import __version__\nfrom . import state\n")  # the package front
    (pkg / "stray.py").write_text("")
    assert upward_imports(import_graph(pkg), layers) == [
        "pkg.stray is in no layer",
        "pkg.engine.loop (layer 1) imports pkg (layer 3)",
        "pkg.engine.state (layer 1) imports pkg.api (layer 2)",
        "pkg.export (layer 2) imports pkg.api (layer 2)",
    ]


def test_reading_a_config_loads_no_torch():
    code = "import sys, semicycle.config as c; c.Config(); assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('semicycle'))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_no_module_is_over_400_lines():
    long = {str(path.relative_to(ROOT)): n for path in SRC.rglob("*.py") if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_the_experiments_driver_is_at_most_300_lines():
    assert len((EXPERIMENTS / "common.py").read_text().splitlines()) <= MAX_EXPERIMENT_DRIVER_LINES


def test_no_experiment_edits_sys_path():
    """The experiments import each other as the package ``experiments`` (``python -m experiments.<script>``)."""
    def uses_sys_path(path: Path) -> bool:
        return any(isinstance(node, ast.Attribute) and node.attr == "path" and isinstance(node.value, ast.Name)
                   and node.value.id == "sys" for node in ast.walk(ast.parse(path.read_text())))

    assert [path.name for path in sorted(EXPERIMENTS.glob("*.py")) if uses_sys_path(path)] == []


def test_experiments_use_the_public_api_only():
    broken = [f"{path.relative_to(ROOT)} imports {name}" for path in sorted(EXPERIMENTS.glob("*.py"))
              for name in imported_names(path, "experiments." + path.stem, False) if name.startswith(EXPERIMENT_FORBIDDEN)]
    assert not broken, "\n".join(broken)


def test_method_files_stay_short_and_a_method_is_one_file_plus_its_registration():
    from semicycle.config import Config
    from semicycle.method_settings import METHOD_SETTINGS
    from semicycle.methods import METHODS

    for path in (SRC / "methods").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 200, path.name
    assert list(METHODS) == list(METHOD_SETTINGS)
    for name, method in METHODS.items():  # its settings are the config section of its name, its batches need no network
        assert (SRC / "methods" / f"{name}.py").is_file() and method.name == name
        assert name in Config.__dataclass_fields__ and callable(method.make_batches)


@pytest.mark.parametrize("layer", range(len(LAYERS)))
def test_every_room_of_a_layer_exists(layer):
    rooms = {room_of(module) for module in package_modules(SRC)}
    assert LAYERS[layer] <= rooms
