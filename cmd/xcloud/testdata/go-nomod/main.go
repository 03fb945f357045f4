// Command nomod has neither go.mod nor .godir: its module is synthesised,
// named after the binary its Procfile runs.
package main

import (
	"fmt"
	"net/http"
	"os"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "hello from nomod") })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
