const { WebSocketServer } = require("ws");

const wss = new WebSocketServer({ port: Number(process.env.PORT || 8081) });
wss.on("connection", (socket) => {
  socket.on("message", (data) => {
    for (const client of wss.clients) client.send(data);
  });
});
