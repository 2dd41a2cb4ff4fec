package main

import (
	"log"
	"net/http"
	"os"

	"github.com/example/ledger/internal/health"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", health.Handler)
	addr := ":" + getenv("PORT", "8080")
	log.Printf("ledger listening on %s", addr)
	log.Fatal(http.ListenAndServe(addr, mux))
}

func getenv(key, fallback string) string {
	if value, ok := os.LookupEnv(key); ok {
		return value
	}
	return fallback
}
