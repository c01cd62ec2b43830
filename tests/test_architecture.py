"""The layering rules of docs/architecture.md, checked on the source: which package may import which.

Imports are read with ``ast`` (module level and inside functions alike), resolved to ``semicycle.*`` names.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src" / "semicycle"

# layer of a module (its first name under semicycle) -> layers it must never import
FORBIDDEN = {
    "models": {"data", "engine", "methods", "cli", "config", "evaluation", "selection", "api"},
    "runtime": {"engine", "methods", "data", "models", "cli", "config", "evaluation", "selection", "api"},
    "settings": {"engine", "methods", "data", "models", "cli", "config", "runtime"},
    "figures": {"engine", "methods", "data", "models", "cli", "config", "runtime"},
    "data": {"engine", "methods", "models", "cli", "evaluation", "selection", "api", "runtime"},
    "losses": {"engine", "methods", "data", "cli", "config"},
    "methods": {"cli", "engine", "evaluation", "selection", "api"},
    "engine": {"cli"},
    "evaluation": {"cli", "engine.trainer", "methods"},
    "export": {"cli", "engine.trainer", "methods", "evaluation", "selection"},
}
EXPERIMENT_FORBIDDEN = ("semicycle.methods", "semicycle.models", "semicycle.runtime", "semicycle.engine.trainer")


def imported_modules(path: Path, package: str) -> set[str]:
    """Absolute names of the modules a file imports (relative imports resolved against ``package``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def layer_of(module: str) -> str:
    return module.split(".")[1] if module.startswith("semicycle.") else ""


def library_files():
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        module = ".".join(rel.parts)
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        yield path, module.removesuffix(".__init__"), package.removesuffix(".__init__")


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_each_layer_imports_only_what_lies_below_it(layer):
    broken = []
    for path, module, package in library_files():
        if layer_of(module) != layer and module != f"semicycle.{layer}":
            continue
        for name in imported_modules(path, package):
            if not name.startswith("semicycle."):
                continue
            target = name.removeprefix("semicycle.")
            if any(target == bad or target.startswith(bad + ".") for bad in FORBIDDEN[layer]):
                broken.append(f"{path.relative_to(ROOT)} imports {name}")
    assert not broken, "\n".join(broken)


def test_experiments_use_the_public_api_only():
    broken = [f"{path.relative_to(ROOT)} imports {name}" for path in sorted((ROOT / "experiments").glob("*.py"))
              for name in imported_modules(path, "experiments") if name.startswith(EXPERIMENT_FORBIDDEN)]
    assert not broken, "\n".join(broken)


def test_method_files_stay_short_and_a_method_is_one_file_plus_its_registration():
    from semicycle.config import Config
    from semicycle.methods import METHODS

    for path in (SRC / "methods").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 200, path.name
    for name, method in METHODS.items():  # its settings are the config section of its name, its batches need no network
        assert (SRC / "methods" / f"{name}.py").is_file() and method.name == name
        assert name in Config.__dataclass_fields__ and callable(method.make_batches)
