from fastapi import FastAPI

app = FastAPI(title="billing")


@app.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@app.get("/invoices/{invoice_id}")
def invoice(invoice_id: int) -> dict[str, int | str]:
    return {"id": invoice_id, "status": "paid"}
