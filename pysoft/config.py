"""The configuration of ``pysoft run``: a YAML file, validated strictly before any MD starts.

Every key is declared once, in :data:`SCHEMA`, with its kind, its default and what it means.
The defaults are the paper's protocol (doc/method.md sections 2, 3 and 6) and the defaults of the
LAMMPS inputs in ``inputs/``, whose ``-var`` names the stage keys repeat, so that a config that
names nothing runs the paper.  An unknown key, a value of the wrong kind or an unknown unit is
a :class:`ConfigError` with a one-line message naming the key.

Quantities with units: durations are ps (a number, or a string such as ``"500 fs"`` or
``"1 ns"``), temperatures K (``300`` or ``"300 K"``), pressures GPa (``"2 GPa"``, or plain
numbers in ``pressure_unit``), strain rates 1/s.
"""

import math
import os
import re

from pysoft.stages import DEFAULT_STAGES, DT_PS, STAGES, pressure_label
from pysoft.train_settings import TrainSettings as _TRAIN

TIME_UNITS = {"fs": 1.0e-3, "ps": 1.0, "ns": 1.0e3}              # -> ps
TEMPERATURE_UNITS = {"K": 1.0}
PRESSURE_UNITS = {"GPa": 1.0, "MPa": 1.0e-3, "kbar": 0.1, "bar": 1.0e-4}   # -> GPa
RATE_UNITS = {"/s": 1.0, "1/s": 1.0, "/ps": 1.0e12, "1/ps": 1.0e12}      # -> 1/s


class ConfigError(ValueError):
    """A mistake in the configuration; the message is one line and names the key."""


class Key:
    """One configuration key: its kind, default, lower bound and meaning."""

    def __init__(self, kind, default, help, minimum=None, strict_minimum=False):
        self.kind, self.default, self.help = kind, default, help
        self.minimum, self.strict_minimum = minimum, strict_minimum


def _section(**keys):
    return keys


# Stage sections: the keys are the -var names of the input scripts (inputs/*), same meaning.
SCHEMA = {
    "name": Key("str", None, "a title for the report"),
    "units": Key("int", 1620, "Al2O3 formula units of each glass (5 atoms each)", minimum=4),
    "pressures": Key("pressures", ["0 GPa", "1 GPa", "2 GPa", "3 GPa", "4 GPa"],
                     "quench pressures: '2 GPa' strings, or numbers in pressure_unit"),
    "pressure_unit": Key("pressure_unit", "GPa", "unit of plain-number pressures (GPa, MPa, kbar, bar)"),
    "np": Key("int", 1, "MPI ranks of the run: every task's, or all tasks' at once with ranks: (pysoft run --np "
                      "overrides)", minimum=1),
    "stages": Key("stages", list(DEFAULT_STAGES), "stages to run, of " + ", ".join(STAGES)),
    "inputs_dir": Key("path", None, "folder of in.quench, matsui.mod, ... (default: the shipped inputs)"),
    "model": Key("path", None, "an existing model.json for the tension stage, instead of the train stage"),
    "lmp": Key("str", None, "LAMMPS executable (default: lmp beside this Python)"),
    "mpirun": Key("str", None, "mpirun executable (default: mpirun beside this Python)"),
    "potential": _section(
        rc=Key("float", 10.0, "real-space cutoff, Å", minimum=0.0, strict_minimum=True),
        kacc=Key("float", 1.0e-5, "PPPM relative accuracy of the forces", minimum=0.0, strict_minimum=True),
    ),
    "quench": _section(
        rho0=Key("float", 2.75, "density of the random start, g/cm3", minimum=0.0, strict_minimum=True),
        rho1=Key("float", 3.175, "density after the rescale at Tliq, g/cm3", minimum=0.0, strict_minimum=True),
        Tmelt=Key("temperature", 5000.0, "melt temperature, K", minimum=0.0, strict_minimum=True),
        Tliq=Key("temperature", 3000.0, "liquid temperature before the quench, K", minimum=0.0, strict_minimum=True),
        T=Key("temperature", 300.0, "final temperature, K", minimum=0.0, strict_minimum=True),
        t_melt=Key("duration", 45.0, "NVT at Tmelt, ps", minimum=0.0),
        t_cool=Key("duration", 10.0, "NVT ramp Tmelt -> Tliq, ps", minimum=0.0),
        t_liq=Key("duration", 45.0, "NVT at Tliq, ps", minimum=0.0),
        t_dens=Key("duration", 45.0, "NVT at Tliq after the rescale to rho1, ps", minimum=0.0),
        t_quench=Key("duration", 650.0, "NPT ramp Tliq -> T at the pressure, ps", minimum=0.0),
        t_rnvt=Key("duration", 10.0, "NVT relaxation at T, ps", minimum=0.0),
        t_rnpt=Key("duration", 25.0, "NPT relaxation at T and 0 pressure, ps", minimum=0.0),
        tdamp=Key("duration", 0.1, "thermostat damping, ps", minimum=0.0, strict_minimum=True),
        pdamp=Key("duration", 1.0, "barostat damping, ps", minimum=0.0, strict_minimum=True),
        seed=Key("int", 4928459, "base seed of the random start; each pressure adds its own offset "
                                 "(pysoft.stages.quench_seed) so the glasses are independent", minimum=1),
        paired=Key("bool", False, "true: every pressure starts from the same random melt (seed as given), "
                                  "pairing the glasses; false: one seed per pressure, as the paper's "
                                  "independent glasses"),
    ),
    "nvt": _section(
        T=Key("temperature", 300.0, "temperature, K", minimum=0.0, strict_minimum=True),
        time=Key("duration", 200.0, "length of the recorded NVT run, ps", minimum=0.0, strict_minimum=True),
        dump_every=Key("duration", 0.1, "time between trajectory frames, ps", minimum=0.001),
        seed=Key("int", 0, "0: keep the quench's velocities; > 0: draw new ones", minimum=0),
        tdamp=Key("duration", 0.1, "thermostat damping, ps", minimum=0.0, strict_minimum=True),
        compress=Key("bool", False, "write the trajectory through gzip (a third of the disk, more CPU)"),
        sampler=Key("str", "dump", "dump: write the trajectory for training; inrun: label and featurize "
                                   "during the run, no trajectory (pysoft.sampler)"),
        calm_fraction=Key("float", 0.00390625, "with sampler inrun: the fraction of calm pairs kept as "
                                               "candidates for the balanced draw (pysoft.phop.keep_calm)",
                          minimum=0.0, strict_minimum=True),
    ),
    "train": _section(
        spec=Key("str", _TRAIN.spec, "structure-function spec: shipped name or JSON file"),
        t_r=Key("duration", _TRAIN.t_r, "phop window tR, ps", minimum=0.0, strict_minimum=True),
        hop_threshold=Key("float", _TRAIN.hop_threshold, "phop peak of a rearrangement, Å^2", minimum=0.0,
                          strict_minimum=True),
        calm_threshold=Key("float", _TRAIN.calm_threshold, "phop ceiling of non-rearranging atoms, Å^2",
                           minimum=0.0, strict_minimum=True),
        per_class=Key("int?", _TRAIN.per_class, "events per class (default: all of the rarer class)", minimum=1),
        min_events=Key("int", _TRAIN.min_events, "fewest rearranging events accepted", minimum=1),
        seed=Key("int", _TRAIN.seed, "seed of the balanced draw and the splits", minimum=0),
        C=Key("floats", list(_TRAIN.C_grid), "SVM C values to cross-validate", minimum=0.0, strict_minimum=True),
        folds=Key("int", _TRAIN.folds, "grouped cross-validation folds", minimum=2),
        also_thresholds=Key("floats", list(_TRAIN.also_thresholds), "higher hop thresholds, Å^2, at which the "
                            "held-out accuracy is also reported (the drawn events with a higher phop peak)",
                            minimum=0.0, strict_minimum=True),
    ),
    "planestrain": _section(
        nx=Key("int", 2, "copies of the glass along x", minimum=1),
        T=Key("temperature", 300.0, "temperature, K", minimum=0.0, strict_minimum=True),
        t_eq=Key("duration", 100.0, "NPT equilibration at T and 0 pressure, ps", minimum=0.0),
        de=Key("float", 0.01, "engineering strain per step", minimum=0.0, strict_minimum=True),
        nsteps=Key("int", 50, "strain cap: the most strain steps", minimum=1),
        stop_frac=Key("float", 0.1, "fracture: the loop ends once sxx < stop_frac x its peak (0 < stop_frac <= 1) ...",
                      minimum=0.0, strict_minimum=True),
        stop_steps=Key("int", 3, "... for stop_steps steps in a row (0: always run to the cap)", minimum=0),
        t_nvt=Key("duration", 10.0, "NVT after each minimization, ps", minimum=0.0, strict_minimum=True),
        t_avg=Key("duration", 2.0, "stress averaged over the last t_avg ps of each NVT", minimum=0.001),
        miniter=Key("int", 1000, "iteration limit of each minimization", minimum=1),
        seed=Key("int", 5512983, "seed of the velocities drawn after replicate", minimum=1),
        tdamp=Key("duration", 0.1, "thermostat damping, ps", minimum=0.0, strict_minimum=True),
        pdamp=Key("duration", 1.0, "barostat damping, ps", minimum=0.0, strict_minimum=True),
        analysis=Key("bool", True, "on-the-fly softness, bond switching, D, clusters, local stress"),
    ),
    "planestress": _section(
        nx=Key("int", 2, "copies of the glass along x", minimum=1),
        T=Key("temperature", 300.0, "temperature, K", minimum=0.0, strict_minimum=True),
        t_eq=Key("duration", 100.0, "NPT equilibration at T and 0 pressure, ps", minimum=0.0),
        rate=Key("rate", 5.0e10, "engineering strain rate along x, 1/s", minimum=0.0, strict_minimum=True),
        strain=Key("float", 0.5, "final engineering strain", minimum=0.0, strict_minimum=True),
        every=Key("duration", 0.1, "interval of the stress-strain rows, ps", minimum=0.001),
        seed=Key("int", 5512983, "seed of the velocities drawn after replicate", minimum=1),
        tdamp=Key("duration", 0.1, "thermostat damping, ps", minimum=0.0, strict_minimum=True),
        pdamp=Key("duration", 1.0, "barostat damping, ps", minimum=0.0, strict_minimum=True),
    ),
    # how many tasks run at once (pysoft.schedule): each task takes its stage's ranks out of np
    "ranks": _section(**{name: Key("int?", None, f"MPI ranks of each {name} task (default: np, so one task "
                                                 f"at a time){' (its phop threads)' if name == 'train' else ''}",
                                   minimum=1)
                         for name in ("quench", "nvt", "train", "planestrain", "planestress")}),
    # pysoft run --submit: every task a batch job (pysoft.cluster, through psij-python)
    "cluster": _section(
        executor=Key("str", "slurm", "the batch scheduler: " + ", ".join(("slurm", "pbs", "lsf"))),
        queue=Key("str", None, "partition or queue of the jobs (default: the site's)"),
        account=Key("str", None, "account or project the jobs are charged to"),
        time_limit=Key("float", 24.0, "time limit of each job, hours; a task stopped by it resumes when "
                                      "pysoft run --submit runs again", minimum=0.0, strict_minimum=True),
        pre_launch=Key("path", None, "a shell script each job sources before pysoft starts (module load ...)"),
    ),
}


class Config(dict):
    """A validated configuration: plain values in pysoft's units, every key present.

    ``config["pressures"]`` is a list of floats in GPa; sections are dicts.  ``source`` is the
    file it came from (relative paths in it are relative to that file's folder).
    """

    source = None


def load_config(path):
    """Read and validate a YAML config file; raise ConfigError with a one-line message."""
    import yaml

    try:
        with open(path) as fh:
            text = fh.read()
    except OSError as e:
        raise ConfigError(f"cannot read config {path}: {e.strerror}")
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not UTF-8 text (byte 0x{e.object[e.start]:02x} at offset {e.start})")
    try:
        raw = yaml.load(text, Loader=_strict_loader())
    except _DuplicateKey as e:
        raise ConfigError(f"{path}: {e}")
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"{path}:{where}: not valid YAML: {problem}")
    cfg = validate(raw if raw is not None else {}, base_dir=os.path.dirname(os.path.abspath(path)))
    cfg.source = os.path.abspath(path)
    return cfg


class _DuplicateKey(Exception):
    """A mapping that names a key twice."""


def _strict_loader():
    """yaml.SafeLoader that refuses a key given twice in one mapping.

    PyYAML keeps the last value silently, so ``units: 30`` followed later by ``units: 3000``
    would run 3000 units without a word.
    """
    import yaml

    class StrictLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            if isinstance(node, yaml.MappingNode):
                seen = {}
                for key_node, _ in node.value:
                    if not isinstance(key_node, yaml.ScalarNode):
                        continue
                    key = key_node.value
                    line = key_node.start_mark.line + 1
                    if key in seen:
                        raise _DuplicateKey(f"key '{key}' is given twice, on line {seen[key]} and on line {line}")
                    seen[key] = line
            return super().construct_mapping(node, deep=deep)

    return StrictLoader


def validate(raw, base_dir="."):
    """A :class:`Config` from a parsed YAML mapping; defaults filled in, units converted."""
    if not isinstance(raw, dict):
        raise ConfigError(f"the config must be a mapping of keys to values, got {_kind_of(raw)}")
    cfg = Config()
    _check_known(raw, SCHEMA, "")
    unit = _pressure_unit(raw.get("pressure_unit", SCHEMA["pressure_unit"].default))
    for name, spec in SCHEMA.items():
        if isinstance(spec, dict):
            sub = raw.get(name, {})
            if sub is None:
                sub = {}
            if not isinstance(sub, dict):
                raise ConfigError(f"{name} must be a mapping of keys to values, got {_kind_of(sub)}")
            _check_known(sub, spec, name + ".")
            cfg[name] = {k: _value(f"{name}.{k}", key, sub.get(k, key.default), unit)
                         for k, key in spec.items()}
        else:
            cfg[name] = _value(name, spec, raw.get(name, spec.default), unit)
    for k in ("inputs_dir", "model"):
        if cfg[k] is not None:
            cfg[k] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(cfg[k])))
    if cfg["cluster"]["pre_launch"] is not None:
        cfg["cluster"]["pre_launch"] = os.path.normpath(os.path.join(base_dir, os.path.expanduser(
            cfg["cluster"]["pre_launch"])))
    cfg["train"]["spec"] = _spec_in_folder(cfg["train"]["spec"], base_dir)
    _cross_checks(cfg)
    _cluster_checks(cfg)
    return cfg


def _spec_in_folder(spec, base_dir):
    """The train.spec setting with a relative path read from the config's folder.  It keeps the
    meaning the plugin's rule (pysoft::find_spec_file, which `pysoft train` asks) gives the
    setting in that folder: a path that exists comes first, else a bare name (no '/', no '.')
    stays a name for the shipped specs, else it is a path.  Checked against the library by
    test_spec_setting_means_what_the_library_reads_in_the_config_folder; not asked here, since
    `pysoft run` itself needs no compiled library (its stages do)."""
    path = os.path.normpath(os.path.join(base_dir, os.path.expanduser(spec)))
    bare = "/" not in spec and "." not in spec
    return spec if bare and not os.path.exists(path) else path


def _check_known(raw, schema, prefix):
    for k in raw:
        if not isinstance(k, str) or k not in schema:
            known = ", ".join(schema)
            raise ConfigError(f"unknown key '{prefix}{k}' (known{' in ' + prefix[:-1] if prefix else ''}: {known})")


def _kind_of(v):
    return {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean",
            type(None): "nothing"}.get(type(v), type(v).__name__)


def _number(v):
    """A float from a YAML number or a numeric string (YAML 1.1 reads 1e-5 as a string)."""
    if isinstance(v, bool):
        raise ValueError
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        return float(v.strip())
    raise ValueError


def _quantity(v, units, default_unit):
    """(value, unit) of a number or of a 'number unit' string."""
    if isinstance(v, str):
        m = re.fullmatch(r"\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)\s*([^\d\s].*?)?\s*", v)
        if not m:
            raise ValueError
        unit = m.group(2) or default_unit
        if unit not in units:
            raise KeyError(unit)
        return float(m.group(1)) * units[unit], unit
    return _number(v) * units[default_unit], default_unit


def _pressure_unit(u):
    if not isinstance(u, str) or u not in PRESSURE_UNITS:
        raise ConfigError(f"pressure_unit: unknown pressure unit {u!r} (use {', '.join(PRESSURE_UNITS)})")
    return u


def _value(name, key, v, pressure_unit):
    kind = key.kind
    try:
        if kind == "str":
            if v is not None and not isinstance(v, str):
                raise ValueError
            return v
        if kind == "path":
            if v is not None and not isinstance(v, str):
                raise ValueError
            return v
        if kind == "bool":
            if not isinstance(v, bool):
                raise ValueError
            return v
        if kind == "pressure_unit":
            return _pressure_unit(v)
        if kind in ("int", "int?"):
            if v is None and kind == "int?":
                return None
            if isinstance(v, bool) or not isinstance(v, int):
                raise ValueError
            out = v
        elif kind == "float":
            out = _number(v)
        elif kind == "floats":
            if not isinstance(v, list) or not v:
                raise ValueError
            out = [_number(x) for x in v]
            for x in out:
                _bound(name, key, x)
            return out
        elif kind == "duration":
            out = _quantity(v, TIME_UNITS, "ps")[0]
        elif kind == "temperature":
            out = _quantity(v, TEMPERATURE_UNITS, "K")[0]
        elif kind == "rate":
            out = _quantity(v, RATE_UNITS, "/s")[0]
        elif kind == "pressures":
            return _pressures(name, v, pressure_unit)
        elif kind == "stages":
            return _stages(name, v)
        else:                                   # pragma: no cover - a schema mistake
            raise AssertionError(kind)
    except ConfigError:
        raise
    except KeyError as e:
        units = {"duration": TIME_UNITS, "temperature": TEMPERATURE_UNITS, "rate": RATE_UNITS}[kind]
        raise ConfigError(f"{name}: unknown unit {e.args[0]!r} in {v!r} (use {', '.join(units)})")
    except (ValueError, TypeError):
        raise ConfigError(f"{name} must be {_expected(kind)}, got {v!r} ({_kind_of(v)})")
    if isinstance(out, float) and not math.isfinite(out):
        raise ConfigError(f"{name} must be finite, got {v!r}")
    _bound(name, key, out)
    return out


def _bound(name, key, out):
    if key.minimum is None:
        return
    if out < key.minimum or (key.strict_minimum and out == key.minimum):
        rel = ">" if key.strict_minimum else ">="
        raise ConfigError(f"{name} must be {rel} {key.minimum:g}, got {out:g}")


def _expected(kind):
    return {"str": "a string", "path": "a path (a string)", "bool": "true or false",
            "int": "an integer", "int?": "an integer or null", "float": "a number",
            "floats": "a non-empty list of numbers",
            "duration": "a duration: a number of ps, or e.g. '500 fs', '20 ps', '1 ns'",
            "temperature": "a temperature: a number of K, or e.g. '300 K'",
            "rate": "a strain rate: a number of 1/s, or e.g. '5e10 /s'",
            "pressures": "a list of pressures", "stages": "a list of stage names"}[kind]


def _pressures(name, v, unit):
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{name} must be a non-empty list of pressures such as ['0 GPa', '2 GPa'], got {v!r}")
    out = []
    for i, p in enumerate(v):
        try:
            gpa = _quantity(p, PRESSURE_UNITS, unit)[0]
        except KeyError as e:
            raise ConfigError(f"{name}[{i}]: unknown pressure unit {e.args[0]!r} in {p!r} "
                              f"(use {', '.join(PRESSURE_UNITS)})")
        except (ValueError, TypeError):
            raise ConfigError(f"{name}[{i}] must be a pressure such as '2 GPa' or a number in "
                              f"pressure_unit ({unit}), got {p!r}")
        if not math.isfinite(gpa) or gpa < 0:
            raise ConfigError(f"{name}[{i}] must be a finite pressure >= 0, got {p!r}")
        out.append(round(gpa, 9))
    labels = [pressure_label(p) for p in out]
    if len(set(labels)) != len(labels):
        raise ConfigError(f"{name}: the same pressure is given twice ({', '.join(labels)})")
    return out


def _stages(name, v):
    if not isinstance(v, list) or not v:
        raise ConfigError(f"{name} must be a non-empty list of stage names ({', '.join(STAGES)}), got {v!r}")
    for s in v:
        if s not in STAGES:
            raise ConfigError(f"{name}: unknown stage {s!r} (stages: {', '.join(STAGES)})")
    if len(set(v)) != len(v):
        raise ConfigError(f"{name}: a stage is named twice")
    return [s for s in STAGES if s in v]          # always in pipeline order


def _cross_checks(cfg):
    ps = cfg["planestrain"]
    if ps["t_avg"] > ps["t_nvt"] + 1e-12:
        raise ConfigError(f"planestrain.t_avg ({ps['t_avg']:g} ps) must not exceed planestrain.t_nvt "
                          f"({ps['t_nvt']:g} ps)")
    if ps["stop_frac"] > 1:
        # sxx below more than its peak: a rising curve would count as fractured
        raise ConfigError(f"planestrain.stop_frac must be at most 1, got {ps['stop_frac']:g}")
    tr = cfg["train"]
    if tr["calm_threshold"] > tr["hop_threshold"]:
        raise ConfigError(f"train.calm_threshold ({tr['calm_threshold']:g}) must not exceed train.hop_threshold "
                          f"({tr['hop_threshold']:g})")
    nvt = cfg["nvt"]
    if nvt["sampler"] not in ("dump", "inrun"):
        raise ConfigError(f"nvt.sampler must be dump or inrun, got {nvt['sampler']!r}")
    if nvt["calm_fraction"] > 1:
        raise ConfigError(f"nvt.calm_fraction must be at most 1, got {nvt['calm_fraction']:g}")
    if nvt["dump_every"] > nvt["time"]:
        raise ConfigError(f"nvt.dump_every ({nvt['dump_every']:g} ps) is longer than nvt.time ({nvt['time']:g} ps)")
    if "train" in cfg["stages"] or nvt["sampler"] == "inrun":
        from pysoft.phop import half_window_frames

        try:
            half_window_frames(tr["t_r"], DT_PS, [0, round(nvt["dump_every"] / DT_PS)])
        except ValueError:
            raise ConfigError(f"train.t_r ({tr['t_r']:g} ps) is too short for frames nvt.dump_every = "
                              f"{nvt['dump_every']:g} ps apart: tR/2 must be at least one frame")
    if "train" in cfg["stages"] and nvt["time"] < 2 * tr["t_r"] - 1e-9:
        raise ConfigError(f"nvt.time ({nvt['time']:g} ps) is shorter than the 2 tR = {2 * tr['t_r']:g} ps that "
                          f"training needs (train.t_r = {tr['t_r']:g} ps)")
    if "train" in cfg["stages"] and cfg["model"] is not None:
        raise ConfigError("model: is given and the train stage is on: drop one (model: is for runs without training)")
    if "train" in cfg["stages"] and len(cfg["train"]["C"]) != len(set(cfg["train"]["C"])):
        raise ConfigError("train.C names a value twice")


def _cluster_checks(cfg):
    from pysoft.cluster import EXECUTORS

    if cfg["cluster"]["executor"] not in EXECUTORS:
        raise ConfigError(f"cluster.executor must be one of {', '.join(EXECUTORS)}, got {cfg['cluster']['executor']!r}")


def describe():
    """The schema as text: every key, its default and meaning (for --help and the docs)."""
    lines = []
    for name, spec in SCHEMA.items():
        if isinstance(spec, dict):
            lines.append(f"{name}:")
            for k, key in spec.items():
                lines.append(f"  {k:<15} {_fmt_default(key.default):<14} {key.help}")
        else:
            lines.append(f"{name:<17} {_fmt_default(spec.default):<14} {spec.help}")
    return "\n".join(lines)


def _fmt_default(v):
    if v is None:
        return "-"
    if isinstance(v, list):
        return "[" + ", ".join(str(x) for x in v) + "]"
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
