require("dotenv").config();
const http = require("node:http");

const server = http.createServer((req, res) => {
  if (req.url === "/healthz") {
    res.writeHead(200, { "Content-Type": "application/json" });
    return res.end(JSON.stringify({ status: "ok" }));
  }
  res.writeHead(404);
  res.end();
});

server.listen(Number(process.env.PORT || 4000));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
