const polka = require("polka");

const items = [{ sku: "A-100", count: 12 }];

polka()
  .get("/healthz", (_req, res) => res.end("ok"))
  .get("/items", (_req, res) => {
    res.setHeader("Content-Type", "application/json");
    res.end(JSON.stringify(items));
  })
  .listen(Number(process.env.PORT || 8080), () => console.log("inventory-api up"));
