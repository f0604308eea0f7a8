"""TrainingCurves: live train/test curves on log axes, fed point by point from a training loop,
with event markers and Pause/Stop buttons that the running loop obeys.

While a cell runs, the kernel handles no messages from the browser, so a button press would wait
for the cell to end. `steps()` therefore polls the kernel (at most every 0.2 s): it takes the
widget messages waiting on the shell channel and handles them at once, and hands every other
message (the next cell's execute request, say) back to the kernel to run after this cell, in
order. This is the idea of jupyter-ui-poll, written here for ipykernel 6 and 7."""

from __future__ import annotations

import math
import time
from typing import Any, Iterator

import numpy as np
import traitlets as t

from ._base import BaseWidget, WidgetInputError, css, esm, pack


class TrainingCurves(BaseWidget):
    _esm = esm("training_curves.js")
    _css = css("training_curves.css")

    title = t.Unicode("Training", help="Shown above the plots.").tag(sync=True)
    log_x = t.Bool(True, help="Logarithmic step axis.").tag(sync=True)
    log_y = t.Bool(True, help="Logarithmic loss axis (accuracy is always linear).").tag(sync=True)
    series = t.List(t.Unicode(), help="Series names in column order; names containing 'acc' or 'share' go on the linear accuracy plot.").tag(sync=True)
    data = t.Bytes(b"", help="Snapshot: float64 bytes [n_points, 1 + len(series)] (step, values; NaN: missing).").tag(sync=True)
    n_points = t.Int(0, help="Rows in the `data` snapshot.").tag(sync=True)
    events = t.List(help="(step, label) markers drawn as vertical lines.").tag(sync=True)
    paused = t.Bool(False, help="Set by the Pause button; steps() blocks while True.").tag(sync=True)
    should_stop = t.Bool(False, help="Set by the Stop button; steps() ends at the next step.").tag(sync=True)
    status = t.Unicode("idle", help="'idle', 'running', 'paused', 'stopped' or 'done'.").tag(sync=True)

    def __init__(self, title: str = "Training", log_x: bool = True, log_y: bool = True,
                 *, send_every: float = 0.1, snapshot_every: float = 2.0, poll_every: float = 0.2) -> None:
        super().__init__(title=title, log_x=log_x, log_y=log_y)
        self._rows: list[list[float]] = []  # [step, v0, v1, ...] in `series` order
        self._sent = 0  # rows already sent to the browser as messages
        self._last_send = self._last_snapshot = self._last_poll = 0.0
        self.send_every, self.snapshot_every, self.poll_every = send_every, snapshot_every, poll_every

    # -- data ---------------------------------------------------------------------------------
    def append(self, step: float, **values: float) -> None:
        """Add one point per named series at `step`, e.g. append(10, train_loss=2.3, test_acc=0.1)."""
        if not values:
            raise WidgetInputError("append needs at least one series, e.g. append(step, train_loss=1.2).")
        step = _number(step, "step")
        names = list(self.series)
        for k in values:
            if k not in names:
                names.append(k)
                for r in self._rows:
                    r.append(math.nan)
        if names != list(self.series):
            self.series = names
        row = [step] + [math.nan] * len(names)
        for k, v in values.items():
            row[1 + names.index(k)] = _number(v, k, allow_nan=True)
        self._rows.append(row)
        now = time.monotonic()
        if now - self._last_send >= self.send_every:
            self._send_pending()
        if now - self._last_snapshot >= self.snapshot_every:
            self._snapshot()

    def add_event(self, step: float, label: str) -> None:
        """Mark `step` with a vertical line labelled `label` (e.g. 'lr drop')."""
        self.events = [*self.events, [_number(step, "step"), str(label)]]

    def flush(self) -> None:
        """Send every point not yet in the browser and refresh the snapshot."""
        self._send_pending()
        self._snapshot()

    def as_array(self) -> np.ndarray:
        """All points as [n_points, 1 + len(series)] (NaN where a series had no value)."""
        return np.array(self._rows, dtype=np.float64).reshape(len(self._rows), 1 + len(self.series))

    def _send_pending(self) -> None:
        if self._sent < len(self._rows):
            rows = [[None if isinstance(x, float) and math.isnan(x) else x for x in r]
                    for r in self._rows[self._sent:]]
            self.send({"type": "points", "start": self._sent, "series": list(self.series), "rows": rows})
            self._sent = len(self._rows)
        self._last_send = time.monotonic()

    def _snapshot(self) -> None:
        a = self.as_array()
        with self.hold_sync():
            self.data = pack(a, "float64")
            self.n_points = len(a)
        self._last_snapshot = time.monotonic()

    # -- running a loop -----------------------------------------------------------------------
    def steps(self, n_steps: int | None = None, start: int = 0) -> Iterator[int]:
        """Yield step numbers start, start+1, ...; stop when Stop is pressed, block while paused.

        for step in curves.steps(1000):
            loss = train_one_step()
            curves.append(step, train_loss=loss)
        """
        self.should_stop = False
        self.paused = False
        self.status = "running"
        step = start
        try:
            while n_steps is None or step < start + n_steps:
                self.poll()
                while self.paused and not self.should_stop:
                    if self.status != "paused":
                        self.flush()
                        self.status = "paused"
                    time.sleep(0.05)
                    self.poll(force=True)
                if self.should_stop:
                    break
                if self.status != "running":
                    self.status = "running"
                yield step
                step += 1
        finally:
            self.flush()
            self.status = "stopped" if self.should_stop else "done"

    def poll(self, force: bool = False) -> int:
        """Handle button presses waiting in the kernel (throttled to every `poll_every` s)."""
        now = time.monotonic()
        if force or now - self._last_poll >= self.poll_every:
            self._last_poll = now
            return process_widget_messages()
        return 0


def _number(x: Any, name: str, allow_nan: bool = False) -> float:
    if hasattr(x, "item"):
        x = x.item()
    try:
        v = float(x)
    except (TypeError, ValueError):
        raise WidgetInputError(f"{name} must be a number; got {type(x).__name__} {x!r}.") from None
    if math.isinf(v) or (math.isnan(v) and not allow_nan):
        raise WidgetInputError(
            f"{name} is {v}; curves need finite numbers. A NaN/inf loss usually means the "
            "training diverged: lower the learning rate or check for log(0).")
    return v


def _kernel():
    try:
        from ipykernel.kernelbase import Kernel
    except ImportError:
        return None
    return Kernel.instance() if Kernel.initialized() else None


def process_widget_messages() -> int:
    """Handle the comm messages (widget updates) queued on the kernel's shell channel now.

    Returns how many were handled. Outside a kernel, or on a kernel we do not know, does nothing.
    """
    kernel = _kernel()
    if kernel is None or getattr(kernel, "session", None) is None:
        return 0
    import zmq

    thread = getattr(kernel, "shell_channel_thread", None)
    if thread is not None:  # ipykernel 7: the main shell reads from an inproc socket pair
        pair = getattr(thread.manager, "_shell_channel_to_main", None)
        stream = getattr(pair, "to_stream", None)
        redispatch = lambda m: kernel.io_loop.add_callback(kernel.shell_main, None, m)  # noqa: E731
        # not `concurrent`: the kernel then publishes busy/idle for this message, and the
        # frontend's widget manager waits for that idle before it sends the model's next update
        dispatch = lambda m: kernel.dispatch_shell(m, subshell_id=None)  # noqa: E731
    else:  # ipykernel 6
        stream = getattr(kernel, "shell_stream", None)
        redispatch = lambda m: kernel.io_loop.add_callback(kernel.dispatch_shell, m)  # noqa: E731
        dispatch = lambda m: kernel.dispatch_shell(m)  # noqa: E731
    socket = getattr(stream, "socket", None)
    if socket is None:
        return 0
    handled, deferred = 0, []
    while True:
        try:
            msg = socket.recv_multipart(zmq.NOBLOCK, copy=False)
        except zmq.Again:
            break
        try:
            _, frames = kernel.session.feed_identities(msg, copy=False)
            msg_type = kernel.session.deserialize(frames, content=False, copy=False)["header"]["msg_type"]
        except Exception:
            msg_type = None
        if msg_type in ("comm_msg",):
            parent = kernel.get_parent("shell")
            ident = kernel._get_shell_context_var(kernel._shell_parent_ident) if hasattr(kernel, "_shell_parent_ident") else None
            try:
                _run_now(dispatch(msg))
                handled += 1
            finally:
                # keep this cell's output going to this cell
                kernel.set_parent(ident, parent, channel="shell")
        else:
            deferred.append(msg)
    for m in deferred:  # run after the current cell, in the order they came
        redispatch(m)
    return handled


def _run_now(result: Any) -> None:
    """Drive a coroutine that does not really wait (a comm handler) to its end, synchronously."""
    if result is None or not hasattr(result, "send"):
        return
    try:
        for _ in range(10_000):
            result.send(None)
    except StopIteration:
        return
    result.close()  # it was waiting on something real: give up rather than spin
