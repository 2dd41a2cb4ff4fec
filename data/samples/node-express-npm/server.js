const express = require("express");

const app = express();
app.use(express.json());

const orders = new Map();

app.get("/healthz", (_req, res) => res.json({ status: "ok" }));

app.get("/orders/:id", (req, res) => {
  const order = orders.get(req.params.id);
  if (!order) return res.status(404).json({ error: "not found" });
  res.json(order);
});

app.post("/orders", (req, res) => {
  const id = String(orders.size + 1);
  orders.set(id, { id, ...req.body });
  res.status(201).json(orders.get(id));
});

const port = Number(process.env.PORT || 3000);
app.listen(port, () => console.log(`orders-api listening on ${port}`));
