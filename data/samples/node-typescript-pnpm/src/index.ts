import { serve } from "@hono/node-server";
import { Hono } from "hono";

const app = new Hono();
app.get("/healthz", (c) => c.json({ status: "ok" }));
app.get("/greet/:name", (c) => c.text(`Hello, ${c.req.param("name")}!`));

serve({ fetch: app.fetch, port: Number(process.env.PORT ?? 3000) });
