"""The ``pysoft`` command line.

One small command class per subcommand (after ASE's CLI): ``add_arguments`` declares the
options and ``run`` does the work, importing anything heavy only there.  A user mistake is
reported as one line, ``pysoft: error: ...``, with exit status 2; ``--traceback`` shows the
full traceback instead.
"""

import argparse
import os
import sys

from pysoft.stages import TASK_STAGES
from pysoft.train_settings import TrainSettings


class CLIError(Exception):
    """A user mistake: printed as one line, exit status 2."""


def built_for(info):
    """The LAMMPS the plugin was built for, in one line (from pysoft/lib/buildinfo.json)."""
    if not info:
        return "unknown (no buildinfo.json beside the plugin)"
    return (f"LAMMPS {info['lammps_version']} ({info['lammps']}: {info['from']}), "
            f"{info['sizes']}, Python {info['python']}")


class InfoCommand:
    """Versions of pysoft, LAMMPS and MPI; the plugin and the styles it registers."""

    name = "info"

    @staticmethod
    def add_arguments(parser):
        pass

    @staticmethod
    def run(args):
        import os

        import pysoft
        from pysoft import plugin
        from pysoft.spec import shipped_specs

        lmp = plugin.lammps()
        styles = [f"{s} {n}" for s, n in lmp.available_plugins()]
        version = lmp.version()
        lmp.close()
        from mpi4py import MPI

        mpi = MPI.Get_library_version().strip().splitlines()[0]
        rows = [
            ("pysoft", f"{pysoft.__version__} ({os.path.dirname(pysoft.__file__)})"),
            ("LAMMPS", f"{version} (lammps Python module {__import__('lammps').__file__})"),
            ("MPI", f"{mpi}; libmpi {plugin.mpi_library()}"),
            ("plugin", plugin.PLUGIN_FILE + ("" if os.path.exists(plugin.PLUGIN_FILE) else "  (MISSING)")),
            ("built for", built_for(plugin.build_info())),
            ("styles", ", ".join(styles) if styles else "none: the plugin did not load"),
            ("specs", ", ".join(shipped_specs()) + f" ({plugin.DATA_DIR})"),
        ]
        width = max(len(k) for k, _ in rows)
        for k, v in rows:
            print(f"{k:<{width}}  {v}")
        if not styles:
            raise CLIError("the LAMMPS plugin was not loaded; reinstall pysoft (pip install .)")


class SpecCommand:
    """Print a shipped spec (or validate a spec file) with its column labels."""

    name = "spec"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("spec", nargs="?", default="default",
                            help="a shipped spec name (default, radial) or a JSON file")
        parser.add_argument("--labels", action="store_true", help="also list the column labels")

    @staticmethod
    def run(args):
        import json

        from pysoft.spec import SpecError, column_labels, load_spec, ncols

        try:
            spec = load_spec(args.spec)
        except (FileNotFoundError, SpecError) as e:
            raise CLIError(str(e))
        print(json.dumps(spec, indent=1))
        print(f"# {ncols(spec)} feature columns", file=sys.stderr)
        if args.labels:
            for i, lab in enumerate(column_labels(spec), 1):
                print(f"# {i:4d} {lab}", file=sys.stderr)


class PluginDemoCommand:
    """A one-minute look at the plugin alone: structure functions of a random a-Al2O3-like box
    under mpirun (the paper's workflow at demo scale is pysoft run --example)."""

    name = "plugin-demo"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("--np", type=int, default=2, help="MPI ranks (default 2)")
        parser.add_argument("--units", type=int, default=300,
                            help="Al2O3 formula units (5 atoms each; default 300 = 1500 atoms)")
        parser.add_argument("--spec", default="default", help="spec name or file (default: default)")
        parser.add_argument("--out", default=os.path.join("runs", "plugin-demo"),
                            help="output directory (default runs/plugin-demo)")

    @staticmethod
    def run(args):
        from pysoft.plugin_demo import run_demo

        if args.np < 1 or args.units < 4:
            raise CLIError("--np must be >= 1 and --units >= 4")
        run_demo(args.out, nprocs=args.np, units=args.units, spec=args.spec)


class TrainCommand:
    """Train a softness model from LAMMPS dump trajectories of unstrained glasses (phop labels)."""

    name = "train"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("trajectories", nargs="*", metavar="TRAJ",
                            help="LAMMPS text dumps (.gz allowed), one per sample, with id, type and "
                                 "unwrapped positions (xu yu zu, or x y z with ix iy iz)")
        parser.add_argument("--samples", nargs="+", metavar="FILE", default=None,
                            help="datasets of the in-run sampler (pysoft.sampler), one per sample, instead of dumps")
        parser.add_argument("--types", nargs="+", required=True, metavar="SPECIES",
                            help="species of LAMMPS types 1..n, e.g. --types Al O")
        parser.add_argument("-o", "--output", required=True, help="model file to write (JSON, read by compute softness)")
        d = TrainSettings
        parser.add_argument("--centre", default=d.centre,
                            help="species whose atoms are labelled (default: the first of --types)")
        parser.add_argument("--spec", default=d.spec, help="structure-function spec: shipped name or JSON file")
        parser.add_argument("--tr", type=float, default=d.t_r, help=f"phop window tR in ps (default {d.t_r:g})")
        parser.add_argument("--dt", type=float, default=d.dt,
                            help=f"MD timestep of the dumps in ps (default {d.dt:g})")
        parser.add_argument("--hop-threshold", type=float, default=d.hop_threshold,
                            help=f"phop peak for a rearrangement, Å^2 ({d.hop_threshold:g})")
        parser.add_argument("--calm-threshold", type=float, default=d.calm_threshold,
                            help=f"phop ceiling for non-rearranging, Å^2 ({d.calm_threshold:g})")
        parser.add_argument("--calm-fraction", type=float, default=d.calm_fraction,
                            help="calm pairs kept for the draw, a fixed pseudo-random subset (1: all); "
                                 "the in-run sampler's value reproduces its dataset from a dump")
        parser.add_argument("--per-class", type=int, default=d.per_class,
                            help="events per class (default: all of the rarer class)")
        parser.add_argument("--min-events", type=int, default=d.min_events,
                            help=f"fewest rearranging events accepted ({d.min_events})")
        parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of the balanced draw and splits ({d.seed})")
        grid = ",".join(f"{c:g}" for c in d.C_grid)
        parser.add_argument("--C", default=grid, help=f"SVM C values to cross-validate ({grid})")
        parser.add_argument("--folds", type=int, default=d.folds, help=f"grouped cross-validation folds ({d.folds})")
        also = " ".join(f"{t:g}" for t in d.also_thresholds)
        parser.add_argument("--also-threshold", type=float, nargs="*", default=None, metavar="A2",
                            help=f"also evaluate at these higher hop thresholds, Å^2, from the same events "
                                 f"(default {also}; none: give the option alone)")
        parser.add_argument("--quiet", action="store_true", help="no progress or report")

    @staticmethod
    def run(args):
        import os

        from pysoft.train import TrainError, train

        try:
            C_grid = tuple(float(c) for c in args.C.split(","))
        except ValueError:
            raise CLIError(f"--C must be comma-separated numbers, got {args.C!r}")
        if any(c <= 0 for c in C_grid):
            raise CLIError("--C values must be positive")
        for name, v in (("--tr", args.tr), ("--dt", args.dt), ("--hop-threshold", args.hop_threshold),
                        ("--calm-threshold", args.calm_threshold)):
            if not v > 0:
                raise CLIError(f"{name} must be positive, got {v}")
        if args.calm_threshold > args.hop_threshold:
            raise CLIError("--calm-threshold must not exceed --hop-threshold")
        if args.folds < 2:
            raise CLIError("--folds must be at least 2")
        also = TrainSettings.also_thresholds if args.also_threshold is None else tuple(args.also_threshold)
        if args.also_threshold is not None:
            for t in also:
                if not t > args.hop_threshold:
                    raise CLIError(f"--also-threshold {t:g} must exceed --hop-threshold {args.hop_threshold:g} "
                                   f"(its events are the drawn ones with a higher phop peak)")
        if not 0 < args.calm_fraction <= 1:
            raise CLIError(f"--calm-fraction must be in (0, 1], got {args.calm_fraction}")
        if bool(args.trajectories) == bool(args.samples):
            raise CLIError("give trajectories or --samples FILE..., not both" if args.samples
                           else "give the trajectories to train from (or --samples FILE...)")
        inputs = args.samples or args.trajectories
        for p in inputs:
            if not os.path.exists(p):
                raise CLIError(f"{'dataset' if args.samples else 'trajectory'} not found: {p}")
        settings = TrainSettings(types=tuple(args.types), centre=args.centre, spec=args.spec, t_r=args.tr,
                                 dt=args.dt, hop_threshold=args.hop_threshold, calm_threshold=args.calm_threshold,
                                 calm_fraction=args.calm_fraction,
                                 per_class=args.per_class, min_events=args.min_events, seed=args.seed,
                                 C_grid=C_grid, folds=args.folds, also_thresholds=also, progress=not args.quiet)
        try:
            source = None
            if args.samples:
                from pysoft.samples import SampleFiles

                source = SampleFiles()
            train(inputs, settings, args.output, source=source)
        except TrainError as e:
            raise CLIError(str(e))


class ModelCommand:
    """Check a softness model file (JSON) as compute softness reads it, and say what it holds."""

    name = "model"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("model", metavar="MODEL", help="model file written by pysoft train (JSON)")
        parser.add_argument("--add-checksum", action="store_true",
                            help="give a model written before model version 2 (no checksum) its checksum, in "
                                 "place; only for a file whose numbers you trust")

    @staticmethod
    def run(args):
        from pysoft.model import ModelError, SoftnessModel, add_checksum

        try:
            if args.add_checksum:
                print(f"{args.model}: checksum {add_checksum(args.model)} added")
            model, d = SoftnessModel.load(args.model)
        except ModelError as e:
            raise CLIError(str(e))
        spec = d["spec"]
        metrics = d.get("metrics") or {}
        accuracy = metrics.get("cv_accuracy")
        print(f"{args.model}: {model.n_features_in_} structure functions of species {' '.join(spec['species'])}, "
              f"C = {model.C:g}" + (f", CV accuracy {accuracy:.3f}" if isinstance(accuracy, float) else "") +
              f"; checksum {d['checksum']} matches its numbers")


class RunCommand:
    """The paper's workflow end to end from a YAML config: quench, 300 K trajectories, training,
    plane-strain tension with on-the-fly analysis, report.  Finished stages are checkpointed
    (done.json); the same command run again resumes at the first unfinished one."""

    name = "run"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("config", nargs="?", help="YAML config (see examples/small.yaml; --keys lists every key)")
        parser.add_argument("--example", action="store_true",
                            help="run examples/small.yaml (about 1,500 atoms, 3 pressures, 2 ranks)")
        parser.add_argument("--np", type=int, default=None, help="MPI ranks (default: the config's np)")
        parser.add_argument("--out", default=None, help="run folder (default runs/CONFIG_NAME)")
        parser.add_argument("--stop-after", default=None, metavar="STAGE",
                            choices=TASK_STAGES,
                            help="stop once this stage is finished for every pressure")
        parser.add_argument("--plan", action="store_true", help="check the config, print the plan and stop")
        parser.add_argument("--keys", action="store_true", help="list every config key with its default and stop")
        parser.add_argument("--submit", action="store_true",
                            help="submit the unfinished tasks as batch jobs of the scheduler in cluster.executor "
                                 "(needs pysoft[cluster]); run again to resubmit what failed or was killed")
        parser.add_argument("--status", action="store_true",
                            help="print where every task stands (done, its batch job's state) and stop")
        parser.add_argument("--task", default=None, metavar="STAGE/PxGPa",
                            help="run this one task (or 'report'): the work of one batch job of --submit")

    @staticmethod
    def run(args):
        from pysoft.pipeline import RunError, find_example, run_pipeline

        if args.keys:
            from pysoft.config import describe

            print(describe())
            return
        try:
            if args.example == bool(args.config):
                raise RunError("give a config file or --example (not both)")
            config = find_example("small.yaml") if args.example else args.config
            if args.np is not None and args.np < 1:
                raise RunError(f"--np must be at least 1, got {args.np}")
            if sum(map(bool, (args.plan, args.submit, args.status, args.task))) > 1:
                raise RunError("give at most one of --plan, --submit, --status and --task")
            run_pipeline(config, run_dir=args.out, nprocs=args.np, stop_after=args.stop_after,
                         plan_only=args.plan, task=args.task, submit=args.submit, status=args.status)
        except RunError as e:
            raise CLIError(str(e))


class ReportCommand:
    """Rebuild the paper's figures from a run folder of pysoft run: RUN_DIR/report/index.html."""

    name = "report"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by pysoft run")
        parser.add_argument("--gallery", metavar="DIR", default=None,
                            help="also write the run's figures (PNG), checks and a Markdown page beside the "
                                 "paper's numbers to DIR (e.g. doc/validation); text below its marker line is kept")

    @staticmethod
    def run(args):
        import os

        from pysoft.report import ReportError, build_report

        if not os.path.isdir(args.run_dir):
            raise CLIError(f"run folder not found: {args.run_dir}")
        try:
            if args.gallery:
                from pysoft.gallery import check_target

                check_target(args.gallery)          # refused before anything is written
            index = build_report(args.run_dir)
            if args.gallery:
                from pysoft.gallery import write_gallery

                print(write_gallery(args.run_dir, args.gallery))
        except ReportError as e:
            raise CLIError(str(e))
        except OSError as e:
            raise CLIError(f"cannot write the gallery in {args.gallery}: {e.strerror}")
        print(index)


class SnapshotCommand:
    """Draw frames of the glass, Al coloured by softness beside its high-softness clusters: the key
    frames of a strain loop, or your own LAMMPS dumps with the columns id type x y z S (cluster)."""

    name = "snapshot"

    @staticmethod
    def add_arguments(parser):
        parser.add_argument("paths", nargs="+", metavar="PATH",
                            help="a key-frame folder (planestrain/PxGPa/keyframes: its moments) or dump files "
                                 "(text or .gz; the first frame of each), one row of the picture each")
        parser.add_argument("-o", "--out", default="snapshot.png", help="PNG to write (default snapshot.png)")
        parser.add_argument("--title", default=None, help="title over the picture")
        parser.add_argument("--centre-type", type=int, default=1,
                            help="LAMMPS type of the atoms that carry softness (default 1, Al)")

    @staticmethod
    def run(args):
        import os

        from pysoft.snapshot import SnapshotError, keyframe_snapshots, load, render

        try:
            frames = []
            for path in args.paths:
                if os.path.isdir(path):
                    frames += keyframe_snapshots(path)
                else:
                    frames.append(load(path, centre_type=args.centre_type))
            if not args.out.lower().endswith(".png"):
                raise SnapshotError(f"--out {args.out}: the picture is a PNG, name it .png")
            out_dir = os.path.dirname(os.path.abspath(args.out))
            if not os.path.isdir(out_dir):
                raise SnapshotError(f"--out {args.out}: folder {out_dir} does not exist")
            print(render(frames, args.out, args.title))
        except SnapshotError as e:
            raise CLIError(str(e))
        except OSError as e:
            raise CLIError(f"cannot write {args.out}: {e.strerror}")


COMMANDS = [InfoCommand, SpecCommand, PluginDemoCommand, TrainCommand, ModelCommand, RunCommand, ReportCommand,
            SnapshotCommand]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="pysoft", description="Structural softness inside LAMMPS.")
    parser.add_argument("--traceback", action="store_true", help="show tracebacks of errors")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for cmd in COMMANDS:
        p = sub.add_parser(cmd.name, help=cmd.__doc__.splitlines()[0], description=cmd.__doc__)
        cmd.add_arguments(p)
        p.set_defaults(_cmd=cmd)
    args = parser.parse_args(argv)
    if not getattr(args, "_cmd", None):
        parser.print_help()
        return 2
    try:
        args._cmd.run(args)
    except KeyboardInterrupt:
        print("pysoft: interrupted", file=sys.stderr)
        return 130
    except CLIError as e:
        if args.traceback:
            raise
        print(f"pysoft: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
