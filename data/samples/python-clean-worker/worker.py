import os
import time

import redis

queue = redis.Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))

while True:
    job = queue.blpop("jobs", timeout=5)
    if job:
        print(f"processing {job[1]!r}", flush=True)
    time.sleep(0.1)
