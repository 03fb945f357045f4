// Command hello is the acceptance tests' app: it answers every request with
// its message, on $PORT.
package main

import (
	"fmt"
	"net/http"
	"os"
)

var message = "hello"

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, message)
	})
	if err := http.ListenAndServe(":"+os.Getenv("PORT"), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
