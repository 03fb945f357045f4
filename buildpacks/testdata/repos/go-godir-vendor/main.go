package main

import (
	"net/http"
	"os"

	"github.com/example/greet"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte(greet.Hello())) })
	http.ListenAndServe(":"+os.Getenv("PORT"), nil)
}
