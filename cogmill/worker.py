"""`python -m cogmill.worker`: a Celery worker for the hardware of this machine.

    python -m cogmill.worker --hardware cpu,gpu-a40 --gpus 0,1 --name gpu-box-1

It reads the default queue (scaling, sweeps), `builds`, `webhooks` and `hw.<sku>` for each SKU it
is given, so runs of models on that hardware come to it; other Celery worker options pass through. Each option
has its environment variable (COGMILL_WORKER_HARDWARE, COGMILL_WORKER_GPUS, COGMILL_WORKER_NAME,
COGMILL_WORKER_CONCURRENCY); COGMILL_WORKER_QUEUES, when set, names the queues outright.
"""

import argparse
import os
import sys


def command(argv: list[str] | None = None) -> tuple[list[str], dict[str, str]]:
    """The Celery command line and environment for these options."""
    parser = argparse.ArgumentParser(prog="python -m cogmill.worker", description=__doc__.split("\n\n")[0])
    parser.add_argument("--hardware", default=os.environ.get("COGMILL_WORKER_HARDWARE", "cpu"),
                        help="comma-separated hardware SKUs this worker runs models on (default: cpu)")
    parser.add_argument("--gpus", default=os.environ.get("COGMILL_WORKER_GPUS", ""),
                        help="comma-separated GPU device numbers; each gpu model instance gets one")
    parser.add_argument("--name", default=os.environ.get("COGMILL_WORKER_NAME", ""),
                        help="the name this worker goes by (default: the host name)")
    parser.add_argument("--concurrency", default=os.environ.get("COGMILL_WORKER_CONCURRENCY", "4"),
                        help="runs this worker holds at once (default: 4)")
    args, celery_args = parser.parse_known_args(argv)
    skus = [sku.strip() for sku in args.hardware.split(",") if sku.strip()]
    if not skus:
        parser.error("--hardware names no SKU")
    env = {**os.environ, "COGMILL_WORKER_HARDWARE": ",".join(skus), "COGMILL_WORKER_GPUS": args.gpus}
    if args.name:
        env["COGMILL_WORKER_NAME"] = args.name
    from playground.dispatch import BUILD_QUEUE, DEFAULT_QUEUE, WEBHOOK_QUEUE, hardware_queue  # names only

    queues = os.environ.get("COGMILL_WORKER_QUEUES") or ",".join(
        [DEFAULT_QUEUE, BUILD_QUEUE, WEBHOOK_QUEUE, *map(hardware_queue, skus)])
    # A Celery name of its own (the process keeps its pid through exec): a deployment's queue is
    # added to this one worker when it boots an instance of it, never to its neighbours.
    named = any(arg in {"-n", "--hostname"} or arg.startswith("--hostname=") for arg in celery_args)
    hostname = [] if named else ["--hostname", f"{args.name or 'celery'}.{os.getpid()}@%h"]
    return [sys.executable, "-m", "celery", "-A", "cogmill", "worker", "--pool", "threads",
            "--concurrency", str(args.concurrency), "--queues", queues, "--loglevel", "INFO",
            "--without-gossip", "--without-mingle", *hostname, *celery_args], env


def main() -> None:
    argv, env = command()
    os.execvpe(argv[0], argv, env)  # the same process: the pid the launcher watches is the worker's


if __name__ == "__main__":
    main()
