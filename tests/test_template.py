"""``cookiecutter template/``: baked with default and unusual answers, installed in a fresh virtual
environment, and the generated project's own tests run there.

The generated project's expected values come from tcpdump and tshark (its tests say which command);
here the function is also run in a flow of the fresh environment and compared with tcpdump again.
"""

from __future__ import annotations

import ast
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest
import tomllib
from cookiecutter.main import cookiecutter
from mapi_core.testing import tcpdump_wire_lengths
from mapi_core.tracegen import generate

REPO = Path(__file__).resolve().parents[1]
TEMPLATE = REPO / "template"

DEFAULT = {"library_name": "portcount", "function_name": "PORT_COUNTER"}
UNUSUAL = {
    "library_name": "x2-net_tools9",
    "function_name": "Q9_A1B2_C",
    "description": "Counts \"quoted\" \\ back\\slash, <tags> & 'ticks' \u2014 na\u00efve caf\u00e9 \u2615 \U0001f988 "
                   "{braces} 100% | pipe */ `code` #hash",
}


def project_files(package: str, function_lower: str) -> set[str]:
    return {
        ".gitignore", "README.md", "pyproject.toml", "setup.py",
        f"src/{package}/__init__.py", f"src/{package}/plugin.py", f"src/{package}/functions.py",
        f"src/{package}/native/__init__.py", f"src/{package}/native/build_native.py",
        f"src/{package}/native/functions.c", f"src/{package}/native/functions.h",
        "tests/data/README.md", "tests/data/sample.pcap", f"tests/test_{function_lower}.py",
    }


def bake(output: Path, **answers: str) -> Path:
    return Path(cookiecutter(str(TEMPLATE), no_input=True, extra_context=answers, output_dir=str(output)))


def files_under(folder: Path) -> set[str]:
    return {path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file()}


def test_default_answers_make_the_documented_file_set(tmp_path):
    project = bake(tmp_path)
    assert project.name == "mapi-portcount"
    assert files_under(project) == project_files("mapi_portcount", "port_counter")
    assert files_under(tmp_path) == {f"mapi-portcount/{name}" for name in files_under(project)}


def test_unusual_answers_survive_every_file_format(tmp_path):
    project = bake(tmp_path, **UNUSUAL)
    assert project.name == "mapi-x2-net_tools9"
    assert files_under(project) == project_files("mapi_x2_net_tools9", "q9_a1b2_c")
    pyproject = tomllib.loads((project / "pyproject.toml").read_text())
    assert pyproject["project"]["name"] == "mapi-x2-net_tools9"
    assert pyproject["project"]["description"] == UNUSUAL["description"]
    assert pyproject["project"]["entry-points"]["mapi"] == {"x2_net_tools9": "mapi_x2_net_tools9.plugin"}
    module = ast.parse((project / "src/mapi_x2_net_tools9/functions.py").read_text())
    constants = {node.targets[0].id: node.value for node in module.body
                 if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)}
    assert ast.literal_eval(constants["DESCRIPTION"]) == UNUSUAL["description"]
    assert UNUSUAL["description"] in (project / "README.md").read_text()
    for python in project.rglob("*.py"):
        compile(python.read_text(), str(python), "exec")      # every generated module is valid Python


@pytest.mark.parametrize(("answers", "message"), [
    ({"library_name": "Port Count"}, "library_name 'Port Count' must start with a lowercase letter"),
    ({"library_name": "9lives"}, "library_name '9lives' must start with a lowercase letter"),
    ({"library_name": "a--b"}, "library_name 'a--b' must start with a lowercase letter"),
    ({"library_name": "stdflib"}, "library_name 'stdflib': mapi-stdlib already registers a mapi library named 'stdflib'"),
    ({"function_name": "port_counter"}, "function_name 'port_counter' must be UPPER_SNAKE_CASE"),
    ({"function_name": "PORT__COUNTER"}, "function_name 'PORT__COUNTER' must be UPPER_SNAKE_CASE"),
    ({"function_name": "BPF_FILTER"}, "function_name 'BPF_FILTER' is already provided by stdflib:BPF_FILTER!1"),
    ({"description": "   "}, "description is empty"),
    ({"description": "x" * 201}, "description is 201 characters long; keep it to one line of at most 200"),
])
def test_wrong_answers_stop_before_anything_is_generated(tmp_path, answers, message):
    argv = [str(Path(sys.executable).with_name("cookiecutter")), "--no-input", "-o", str(tmp_path), str(TEMPLATE)]
    baked = subprocess.run(argv + [f"{key}={value}" for key, value in answers.items()],
                           capture_output=True, text=True, check=False)
    assert baked.returncode != 0
    assert f"error: {message}" in baked.stderr
    assert not any(tmp_path.iterdir())


def test_the_shipped_sample_is_the_generators_output(tmp_path):
    # tests/data/README.md of the generated project names the command; it must reproduce the file.
    shipped = TEMPLATE / "{{cookiecutter.__dist}}" / "tests" / "data" / "sample.pcap"
    generate(str(tmp_path / "sample.pcap"), 300, seed=5)
    assert (tmp_path / "sample.pcap").read_bytes() == shipped.read_bytes()
    readme = (shipped.parent / "README.md").read_text()
    assert "python -m mapi_core.tracegen sample.pcap --packets 300 --seed 5" in readme


# --- the generated projects in a fresh virtual environment -----------------------------------------

def pip(environment: Path, *args: str, cwd: Path | None = None) -> None:
    done = subprocess.run([str(environment / "bin" / "python"), "-m", "pip", "--disable-pip-version-check",
                           "-q", *args], cwd=cwd, capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"pip {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"


def clean_copy(source: Path, destination: Path) -> Path:
    """The distribution's sources as a fresh clone has them (no build products of the workspace)."""
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(
        "*.egg-info", "build", "*.so", "*.o", "_engine.c", "__pycache__", "tests"))
    return destination


@pytest.fixture(scope="module")
def fresh_environment(tmp_path_factory):
    """A new virtual environment holding mapi-core (built from this checkout) and both baked
    projects: the default one installed normally, the unusual one editable."""
    root = tmp_path_factory.mktemp("template")
    environment = root / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(environment)
    pip(environment, "install", str(clean_copy(REPO / "mapi_core", root / "mapi_core")))
    default = bake(root / "baked", **DEFAULT)
    unusual = bake(root / "baked", **UNUSUAL)
    pip(environment, "install", f"{default}[test]")
    pip(environment, "install", "-e", f"{unusual}[test]")
    return environment, {"PORT_COUNTER": default, "Q9_A1B2_C": unusual}


def in_environment(environment: Path, *argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["CI"] = "1"      # the generated tests' oracle checks must run, not skip
    return subprocess.run([str(environment / "bin" / argv[0]), *argv[1:]], cwd=cwd, env=env,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("function", ["PORT_COUNTER", "Q9_A1B2_C"])
def test_generated_project_passes_its_own_tests(fresh_environment, function):
    environment, projects = fresh_environment
    tested = in_environment(environment, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                            cwd=projects[function])
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert " passed" in tested.stdout and "skipped" not in tested.stdout


def test_generated_functions_are_listed_with_their_library(fresh_environment):
    environment, _ = fresh_environment
    listed = in_environment(environment, "mapi", "functions", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    records = {record["name"]: record for record in json.loads(listed.stdout)["functions"]}
    assert records["PORT_COUNTER"]["library"] == "portcount"
    assert records["PORT_COUNTER"]["distribution"] == "mapi-portcount"
    assert records["Q9_A1B2_C"]["library"] == "x2_net_tools9"
    assert records["Q9_A1B2_C"]["description"] == UNUSUAL["description"]
    assert all(records[name]["native"] for name in ("PORT_COUNTER", "Q9_A1B2_C"))


FLOW = """
import sys
from mapi_core import Flow
with Flow(sys.argv[1]) as flow:
    result = flow.apply(sys.argv[2], sys.argv[3])
    flow.run()
    value = result.read()
    print(value.packets, value.bytes)
"""


@pytest.mark.parametrize(("function", "ports"), [("PORT_COUNTER", "80"), ("Q9_A1B2_C", "1000-2000")])
def test_generated_function_runs_in_a_flow(fresh_environment, function, ports):
    environment, projects = fresh_environment
    sample = projects[function] / "tests" / "data" / "sample.pcap"
    ran = in_environment(environment, "python", "-c", FLOW, str(sample), function, ports)
    assert ran.returncode == 0, ran.stderr
    low, _, high = ports.partition("-")
    lengths = tcpdump_wire_lengths(sample, f"portrange {low}-{high or low}")
    assert ran.stdout.split() == [str(len(lengths)), str(sum(lengths))]
