"""Architecture rules from SPEC section 3, checked on the source itself."""

import ast
import pathlib
import subprocess
import sys

PKG = pathlib.Path(__file__).resolve().parents[1] / "netinspect"
FORBIDDEN_IN_PURE = {"socket", "scapy", "tabulate", "selectors", "subprocess", "netifaces", "psutil", "dns", "asyncio", "ssl"}


def _imports(path: pathlib.Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_core_and_wire_import_no_io_libraries():
    offenders = []
    for package in ("core", "wire"):
        for path in (PKG / package).rglob("*.py"):
            bad = _imports(path) & FORBIDDEN_IN_PURE
            if bad:
                offenders.append(f"{path.relative_to(PKG)}: {sorted(bad)}")
    assert offenders == []


def test_core_and_wire_use_only_stdlib_and_themselves():
    allowed_third_party = {"netinspect"}
    offenders = []
    for package in ("core", "wire"):
        for path in (PKG / package).rglob("*.py"):
            for name in _imports(path):
                if name in sys.stdlib_module_names or name in allowed_third_party or name == "__future__":
                    continue
                offenders.append(f"{path.relative_to(PKG)}: {name}")
    assert offenders == []


def test_scapy_has_exactly_one_importer():
    importers = [p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if "scapy" in _imports(p)]
    assert importers == ["adapters/scapy_io.py"]


def test_tabulate_has_exactly_one_importer():
    importers = [p.relative_to(PKG).as_posix() for p in PKG.rglob("*.py") if "tabulate" in _imports(p)]
    assert importers == ["render/table.py"]


def test_help_does_not_import_scapy():
    code = ("import sys\nfrom netinspect.cli.main import raw_main\nimport io\n"
            "from netinspect.cli.environment import Environment\n"
            "raw_main(['--help'], Environment(stdout=io.StringIO(), stderr=io.StringIO()))\n"
            "print('scapy' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False", result.stderr
