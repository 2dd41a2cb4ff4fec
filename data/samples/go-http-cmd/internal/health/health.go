package health

import (
	"encoding/json"
	"net/http"
)

// Handler reports that the process is serving.
func Handler(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"status": "ok"})
}
