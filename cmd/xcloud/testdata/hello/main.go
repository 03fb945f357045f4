// Command hello is the acceptance tests' app. It answers / with its message,
// /whoami with its hostname, /health with its health string, /env?name= with
// a variable, /fetch?url= with what a GET of url answered (or why it
// failed), /print?msg= by printing msg, /work?ms=&kb= like a realistic handler (ms
// milliseconds of CPU work, then a kb-kilobyte body; the benchmark's app), and
// /crash by exiting, /file?path= with a file's content, /sick by failing
// /health from then on; it drains in-flight requests on SIGTERM like a
// well-behaved app. HELLO_START_DELAY=10s makes it listen only after that long.
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"
)

// Set with -ldflags -X.
var (
	message = "hello"
	health  = "ok"
)

func main() {
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, message)
	})
	mux.HandleFunc("/whoami", func(w http.ResponseWriter, r *http.Request) {
		h, _ := os.Hostname()
		fmt.Fprintln(w, h)
	})
	var sick atomic.Bool
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {
		if sick.Load() {
			http.Error(w, "sick", http.StatusInternalServerError)
			return
		}
		fmt.Fprintln(w, health)
	})
	mux.HandleFunc("/sick", func(w http.ResponseWriter, r *http.Request) {
		sick.Store(true)
		fmt.Fprintln(w, "sick from now on")
	})
	mux.HandleFunc("/file", func(w http.ResponseWriter, r *http.Request) {
		b, err := os.ReadFile(r.URL.Query().Get("path"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusNotFound)
			return
		}
		w.Write(b)
	})
	mux.HandleFunc("/env", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, os.Getenv(r.URL.Query().Get("name")))
	})
	mux.HandleFunc("/fetch", func(w http.ResponseWriter, r *http.Request) {
		// What the app's own code can reach from its container.
		resp, err := (&http.Client{Timeout: 3 * time.Second}).Get(r.URL.Query().Get("url"))
		if err != nil {
			http.Error(w, "fetch failed: "+err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		io.Copy(w, resp.Body)
	})
	mux.HandleFunc("/print", func(w http.ResponseWriter, r *http.Request) {
		fmt.Println(r.URL.Query().Get("msg"))
	})
	mux.HandleFunc("/work", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		kb, _ := strconv.Atoi(r.URL.Query().Get("kb"))
		// CPU work, as rendering a page would be: the proxy's cost is then
		// compared with an app's, on the same cores.
		sum := uint64(1)
		for until := time.Now().Add(time.Duration(ms) * time.Millisecond); time.Now().Before(until); {
			for i := range 1000 {
				sum = sum*31 + uint64(i)
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", strconv.Itoa(kb*1024))
		w.Write([]byte(strings.Repeat(strings.Repeat(strconv.Itoa(int(sum%10)), 1023)+"\n", kb)))
	})
	mux.HandleFunc("/crash", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "crashing")
		go func() {
			time.Sleep(50 * time.Millisecond)
			os.Exit(3)
		}()
	})
	srv := &http.Server{Addr: ":" + os.Getenv("PORT"), Handler: mux}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	// HELLO_START_DELAY plays an app that takes a while to boot.
	if delay, err := time.ParseDuration(os.Getenv("HELLO_START_DELAY")); err == nil {
		time.Sleep(delay)
	}
	fmt.Println("listening on", srv.Addr)
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
