from fastapi import FastAPI

app = FastAPI(title="search")

DOCUMENTS = ["multi-stage builds", "distroless images", "layer caching"]


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/search")
def search(q: str) -> list[str]:
    return [d for d in DOCUMENTS if q.lower() in d]
