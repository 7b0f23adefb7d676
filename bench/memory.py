"""Worker memory benchmark: resident memory of `python -m worker` over 1,000 jobs.

A real worker process (tiny random-weight pipeline, CPU, real Redis) takes jobs with new
prompts in waves of 100 (so batches form and the text cache fills and evicts); its resident set
size is read from /proc after each wave.

    python -m bench.memory --jobs 1000
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import redis
from rq import Queue
from rq.registry import FailedJobRegistry
from rq.serializers import JSONSerializer

from bench.report import append, table
from common.config import QueueSettings
from common.protocol import Keys
from testing.jobs import job_context, submit_now
from testing.safety_models import save_classifier
from testing.support import Process, RedisServer
from testing.synthetic import save_pipeline


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--wave", type=int, default=100)
    parser.add_argument("--no-append", action="store_true")
    args = parser.parse_args(argv)
    rows: list[list[object]] = []
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        model = save_pipeline("tiny", workdir / "model")
        server = RedisServer(workdir).start()
        safety = save_classifier(workdir / "safety")
        env = {
            "REDIS_URL": server.url,
            "MODEL_ID": str(model),
            "DEVICE": "cpu",  # what the section's title says, on a CUDA host too
            "SAFETY_MODEL_ID": str(safety),
            "TRANSLATE_MODEL_ID": "",
        }
        worker = Process("worker", env, workdir)
        try:
            worker.wait_for_output(r"ready: listening", timeout=300)
            client = redis.Redis.from_url(server.url)
            queue = Queue("imagine", connection=client, serializer=JSONSerializer)
            results = Keys(QueueSettings()).results
            rows.append([0, f"{rss_mib(worker.proc.pid):.1f}", "-"])
            started = time.perf_counter()
            for done in range(args.wave, args.jobs + 1, args.wave):
                for i in range(done - args.wave, done):
                    submit_now(client, job_context(f"memory study {i}", 1, i, seed=i))
                # One entry per job, ok or error (RQ's registries expire after RESULT_TTL_S).
                while client.xlen(results) < done:
                    time.sleep(0.05)
                rate = done / (time.perf_counter() - started)
                rows.append([done, f"{rss_mib(worker.proc.pid):.1f}", f"{rate:.1f}"])
                print(table(HEADER, rows[-1:]), flush=True)
            failed = FailedJobRegistry(queue=queue).count
        finally:
            worker.stop()
            server.stop()
    first, last = float(rows[1][1]), float(rows[-1][1])  # type: ignore[arg-type]
    body = (
        table(HEADER, rows)
        + "\n"
        + NOTES.format(jobs=args.jobs, growth=last - first, failed=failed, wave=args.wave)
    )
    if args.no_append:
        print(body)
    else:
        append("Worker memory over many jobs (tiny pipeline, CPU)", "bench.memory", body)


HEADER = ["jobs done", "worker RSS MiB", "jobs/s so far"]
NOTES = """
{jobs} jobs in waves of {wave}, every prompt new (the text cache fills up to TEXT_CACHE_SIZE
and then evicts). RSS growth from the first wave to the last: {growth:+.1f} MiB. Failed
jobs: {failed}. The results stream is capped by RESULTS_MAXLEN in Redis, not in the worker.
"""

if __name__ == "__main__":
    main()
