import os

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/healthz")
def healthz():
    return jsonify(status="ok")


@app.get("/quotes/<int:quote_id>")
def quote(quote_id: int):
    return jsonify(id=quote_id, text="Simplicity is prerequisite for reliability.")


if __name__ == "__main__":
    app.run(host="0.0.0.0", port=int(os.environ.get("PORT", "5000")))
