"""Start coglet's HTTP server and take it down if Cogmill's worker goes away.

Usage: python _cog_server.py PARENT_PID OUTPUT_LOG [cog.server.http arguments...]

Runs inside the model's virtualenv. Without the watch, a worker killed with
SIGKILL would leave its model servers running forever.
"""

import os
import runpy
import signal
import sys
import threading
import time


def watch_parent(parent: int, output_log: str) -> None:
    while os.getppid() == parent:
        time.sleep(1.0)
    try:
        os.unlink(output_log)  # nobody is left to read it
    except OSError:
        pass
    os.killpg(0, signal.SIGKILL)  # our process group: this server and its worker


def main() -> None:
    del sys.path[0]  # this script's folder (Cogmill's runner) is not the model's business
    parent, output_log = int(sys.argv[1]), sys.argv[2]
    threading.Thread(target=watch_parent, args=(parent, output_log), daemon=True).start()
    sys.argv = ["cog.server.http", *sys.argv[3:]]
    runpy.run_module("cog.server.http", run_name="__main__", alter_sys=True)


if __name__ == "__main__":
    main()
