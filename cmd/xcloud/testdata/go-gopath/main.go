// Command gopath-hello is a GOPATH-era program: no go.mod, its import path
// in .godir, its one dependency vendored.
package main

import (
	"fmt"
	"net/http"
	"os"

	"github.com/example/greeting"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, greeting.For("gopath"))
	})
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
