"""A run folder of ``pysoft run``, read back: the one reader of ``done.json``."""

import json
import os

DONE = "done.json"                # written by a task once it finished and its outputs were checked
TASK_MARKER = ".pysoft-task"      # in every task folder pysoft makes: only such folders are emptied


def read_json(path):
    """The JSON in `path`, or None if it is missing or unreadable."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


def read_done(task_dir):
    """The done.json of the task folder `task_dir` as a dict, or None if it has none (or one
    that cannot be read, which counts as none)."""
    done = read_json(os.path.join(task_dir, DONE))
    return done if isinstance(done, dict) else None
