from fastapi import FastAPI, HTTPException
from pydantic import BaseModel

app = FastAPI(title="catalog")


class Item(BaseModel):
    sku: str
    name: str
    price_cents: int


ITEMS: dict[str, Item] = {}


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.put("/items/{sku}")
def put_item(sku: str, item: Item) -> Item:
    ITEMS[sku] = item
    return item


@app.get("/items/{sku}")
def get_item(sku: str) -> Item:
    if sku not in ITEMS:
        raise HTTPException(status_code=404, detail="no such item")
    return ITEMS[sku]
