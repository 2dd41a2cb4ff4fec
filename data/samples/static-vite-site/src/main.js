document.querySelector("#app").innerHTML = "<h1>Ship faster with smaller images</h1>";
