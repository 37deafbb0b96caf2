"""Which tasks of ``pysoft run`` start when: a greedy list schedule on a fixed number of ranks.

A task may start once every task it reads is finished and enough ranks are free.  Whenever ranks
free up, the ready tasks are started in the plan's order (stage by stage, pressure by pressure),
each one that fits; a task that does not fit is passed over for a later one that does.  The
runner (:meth:`pysoft.pipeline.Pipeline.run`) and the plan and the time-left estimate
(:func:`simulate`) use the same rule, :func:`startable`, so the plan shows the order the run
takes.  With one task's ranks equal to all the ranks (the default), this is the serial order.
"""

import heapq

__all__ = ["startable", "simulate"]


def startable(pending, finished, free, ranks, upstream):
    """The pending tasks to start now, in order.

    Parameters
    ----------
    pending : list
        Tasks not started, in the plan's order.
    finished : callable
        ``finished(task)``: whether an upstream task's outputs are there.
    free : int
        Ranks free now.
    ranks, upstream : callable
        A task's ranks and the tasks it reads.
    """
    out = []
    for t in pending:
        r = ranks(t)
        if r <= free and all(finished(u) for u in upstream(t)):
            out.append(t)
            free -= r
    return out


def simulate(pending, total, ranks, upstream, duration, running=()):
    """Start and end times (s from now) of every task, and the wall time of them all.

    Parameters
    ----------
    pending : list
        Tasks to run, in the plan's order; an upstream task in neither `pending` nor `running`
        counts as finished.
    total : int
        Ranks of the allocation.
    ranks, upstream, duration : callable
        A task's ranks, the tasks it reads, its expected seconds.
    running : iterable of (task, seconds left)
        Tasks already running.

    Returns
    -------
    (dict task -> (start, end), float wall seconds)
    """
    active = set(pending)
    events, times, free, seq = [], {}, total, 0
    for t, left in running:
        active.add(t)
        heapq.heappush(events, (max(left, 0.0), seq, t))
        free -= ranks(t)
        seq += 1
    done = set()
    waiting = list(pending)
    now = 0.0
    while waiting or events:
        for t in startable(waiting, lambda u: u not in active or u in done, free, ranks, upstream):
            waiting.remove(t)
            end = now + duration(t)
            times[t] = (now, end)
            heapq.heappush(events, (end, seq, t))
            free -= ranks(t)
            seq += 1
        if not events:
            raise ValueError(f"{waiting[0]!r} can never start: it needs more ranks than {total} or an "
                             "upstream task that is not planned")
        now, _, t = heapq.heappop(events)
        done.add(t)
        free += ranks(t)
        # tasks that end at the same moment free their ranks together
        while events and events[0][0] <= now:
            _, _, t = heapq.heappop(events)
            done.add(t)
            free += ranks(t)
    return times, now
