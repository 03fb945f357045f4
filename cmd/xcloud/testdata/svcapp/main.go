// Command svcapp is the services acceptance test's app: it keeps rows in
// the PostgreSQL of DATABASE_URL and a counter in the Redis of REDIS_URL,
// and reports whether a TCP address can be reached from its container.
//
//	GET  /           ok (its health check)
//	POST /rows?v=X   inserts X;  GET /rows: every value, comma-separated
//	GET  /count      increments the counter and answers its value
//	GET  /dial?addr= "connected" or the dial error
package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

func main() {
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	http.HandleFunc("/rows", rows)
	http.HandleFunc("/count", count)
	http.HandleFunc("/dial", func(w http.ResponseWriter, r *http.Request) {
		c, err := net.DialTimeout("tcp", r.URL.Query().Get("addr"), 3*time.Second)
		if err != nil {
			fmt.Fprintln(w, err)
			return
		}
		c.Close()
		fmt.Fprintln(w, "connected")
	})
	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	if err := http.ListenAndServe(":"+port, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func rows(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, os.Getenv("DATABASE_URL"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE TABLE IF NOT EXISTS items (v text)"); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	if r.Method == http.MethodPost {
		if _, err := conn.Exec(ctx, "INSERT INTO items (v) VALUES ($1)", r.URL.Query().Get("v")); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
	}
	rs, err := conn.Query(ctx, "SELECT v FROM items ORDER BY v")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	vs, err := pgx.CollectRows(rs, pgx.RowTo[string])
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	fmt.Fprintln(w, strings.Join(vs, ","))
}

// count speaks just enough of Redis's protocol: AUTH, then INCR.
func count(w http.ResponseWriter, r *http.Request) {
	u, err := url.Parse(os.Getenv("REDIS_URL"))
	if err != nil || u.Host == "" {
		http.Error(w, "no REDIS_URL", http.StatusServiceUnavailable)
		return
	}
	c, err := net.DialTimeout("tcp", u.Host, 3*time.Second)
	if err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	in := bufio.NewReader(c)
	pw, _ := u.User.Password()
	for _, cmd := range [][]string{{"AUTH", u.User.Username(), pw}, {"INCR", "counter"}} {
		fmt.Fprintf(c, "*%d\r\n", len(cmd))
		for _, a := range cmd {
			fmt.Fprintf(c, "$%d\r\n%s\r\n", len(a), a)
		}
		line, err := in.ReadString('\n')
		if err != nil || strings.HasPrefix(line, "-") {
			http.Error(w, fmt.Sprint(strings.TrimSpace(line), err), http.StatusInternalServerError)
			return
		}
		if cmd[0] == "INCR" {
			fmt.Fprintln(w, strings.TrimPrefix(strings.TrimSpace(line), ":"))
		}
	}
}
