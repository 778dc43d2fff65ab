"""A worker process for the metering concurrency test: executes the given runs on as
many threads at once, each thread its runs one after another (as web workers do).

Usage: python -m tests.integration.metering_worker THREADS RUN_ID[,RUN_ID…]
Prints the outcome counts as JSON. Database, master key and catalog come from the
environment, like any process of the installation.
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from sqlmodel import Session

from connections_app.core.db import build_engine
from connections_app.core.workflows import runs


def main() -> None:
    threads = int(sys.argv[1])
    ids = sys.argv[2].split(",")
    engine = build_engine(
        os.environ["REFLEX_DB_URL"], pool_size=threads // 2, max_overflow=0, pool_timeout=120
    )
    lanes = [ids[n::threads] for n in range(threads)]

    def lane(run_ids: list[str]) -> list[str]:
        done = []
        for run_id in run_ids:
            with Session(engine, expire_on_commit=False) as db:
                done.append(str(runs.execute(db, run_id)))
        return done

    with ThreadPoolExecutor(threads) as pool:
        outcomes = Counter(s for result in pool.map(lane, lanes) for s in result)
    print(json.dumps(dict(outcomes)))


if __name__ == "__main__":
    main()
