"""Run many command lines of tubelink's scripts at the cost of one interpreter start.

`python tests/command_runner.py` imports torch and tubelink once, then reads one JSON request per line from stdin
({"argv": [...], "env": {...}}) and answers each with one JSON line {"rc", "stdout", "stderr"}. For every request
it forks a child that sets sys.argv and the environment and runs the script (or `-m module`) as `__main__`, exactly
as `python script.py ARGS` would, with its own stdout / stderr files and exit status. Python's own top level (an
uncaught exception prints its traceback and exits 1) is reproduced in the child. Requests run two at a time.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
import tempfile
import traceback
from typing import Dict, List, Optional

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARALLEL = 2


def _child(argv: List[str], env: Dict[str, str], out_path: str, err_path: str) -> None:
    """Runs in the forked child; never returns."""
    code = 1
    try:
        for fd, path in ((1, out_path), (2, err_path)):
            handle = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(handle, fd)
            os.close(handle)
        sys.stdout = os.fdopen(1, "w", buffering=1, closefd=False)
        sys.stderr = os.fdopen(2, "w", buffering=1, closefd=False)
        sys.stdin = open(os.devnull)
        os.environ.update(env)
        try:
            if argv[0] == "-m":
                sys.argv = [argv[1], *argv[2:]]
                runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
            else:
                script = os.path.join(REPO, argv[0])
                sys.argv = [script, *argv[1:]]
                sys.path[0] = os.path.dirname(script)
                runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            if exit_.code is None or isinstance(exit_.code, int):
                code = exit_.code or 0
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except BaseException:
            traceback.print_exc()
            code = 1
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def serve() -> None:
    """The server loop: requests on stdin, answers on stdout, in request order."""
    import torch  # noqa: F401  (the expensive imports, shared by every child)

    import tubelink  # noqa: F401
    import tubelink.evaluation  # noqa: F401  (not .offline: `-m` must run it fresh)
    import tubelink.modeling  # noqa: F401
    import tubelink.utils.video_io  # noqa: F401

    requests = [json.loads(line) for line in sys.stdin if line.strip()]
    tmp = tempfile.mkdtemp(prefix="command_runner_")
    running, results = {}, [None] * len(requests)

    def reap_one() -> None:
        pid, status = os.wait()
        index, out_path, err_path = running.pop(pid)
        results[index] = {
            "rc": os.waitstatus_to_exitcode(status),
            "stdout": open(out_path, encoding="utf-8", errors="replace").read(),
            "stderr": open(err_path, encoding="utf-8", errors="replace").read(),
        }

    for index, request in enumerate(requests):
        while len(running) >= PARALLEL:
            reap_one()
        out_path, err_path = os.path.join(tmp, f"{index}.out"), os.path.join(tmp, f"{index}.err")
        sys.stdout.flush()
        pid = os.fork()
        if pid == 0:
            _child(request["argv"], request.get("env", {}), out_path, err_path)
        running[pid] = (index, out_path, err_path)
    while running:
        reap_one()
    for result in results:
        sys.stdout.write(json.dumps(result) + "\n")


def run_many(requests: List[dict], env: Optional[Dict[str, str]] = None, timeout: float = 600) -> List[dict]:
    """Run every request ({"argv": [...], "env": {...}}) through one runner process; their results, in order."""
    proc = subprocess.run(
        [sys.executable, os.path.abspath(__file__)],
        input="".join(json.dumps(r) + "\n" for r in requests),
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=dict(os.environ, **(env or {})),
    )
    if proc.returncode != 0:
        raise RuntimeError(f"command runner failed:\n{proc.stderr[-3000:]}")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


if __name__ == "__main__":
    serve()
