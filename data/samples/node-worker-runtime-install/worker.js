const cron = require("node-cron");

cron.schedule("*/5 * * * *", () => {
  console.log(`${new Date().toISOString()} building reports`);
});
console.log("report-worker scheduled");
