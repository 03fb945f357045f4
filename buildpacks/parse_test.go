package buildpacks

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProcfile(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Process
		err      string
	}{
		{name: "good", in: "web: ./server --port $PORT\nworker: ./worker\n",
			want: []Process{{"web", "./server --port $PORT"}, {"worker", "./worker"}}},
		{name: "comments and blank lines", in: "\uFEFF# comment\n\n  # indented comment\r\nweb:   bundle exec puma -p $PORT  \r\n\n",
			want: []Process{{"web", "bundle exec puma -p $PORT"}}},
		{name: "colon in command", in: "web: gunicorn --bind 0.0.0.0:$PORT app:app",
			want: []Process{{"web", "gunicorn --bind 0.0.0.0:$PORT app:app"}}},
		{name: "empty", in: "", want: nil},
		{name: "missing colon", in: "web: ok\n\nworker ./worker\n", err: `Procfile line 3: want "type: command", got "worker ./worker"`},
		{name: "empty command", in: "web:   \n", err: `Procfile line 1: process type "web" has an empty command`},
		{name: "bad type", in: "# x\nweb server: run\n", err: `Procfile line 2: process type "web server" must match ^[a-zA-Z0-9_-]+$`},
		{name: "empty type", in: ": run\n", err: `Procfile line 1: process type "" must match`},
		{name: "duplicate", in: "web: a\nworker: b\nweb: c\n", err: `Procfile line 3: duplicate process type "web" (first on line 1)`},
		{name: "too long", in: "web: " + strings.Repeat("x", maxProcfileLine), err: "Procfile line 1: longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseProcfile(strings.NewReader(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func FuzzParseProcfile(f *testing.F) {
	for _, s := range []string{
		"web: ./server\nworker: ./worker\n",
		"# comment\n\nweb: gunicorn app:app --bind 0.0.0.0:$PORT\r\n",
		"web ./server", "web:", ": x", "web: a\nweb: b", "\uFEFFweb: x", "a-b_C9: \x00\n", "web:\t\v x \u00a0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		procs, err := ParseProcfile(strings.NewReader(in))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "Procfile") {
				t.Errorf("error does not name the Procfile: %v", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, p := range procs {
			if !processType().MatchString(p.Type) {
				t.Errorf("bad type %q", p.Type)
			}
			if strings.TrimSpace(p.Command) == "" || strings.Contains(p.Command, "\n") {
				t.Errorf("bad command %q", p.Command)
			}
			if seen[p.Type] {
				t.Errorf("duplicate type %q", p.Type)
			}
			seen[p.Type] = true
		}
	})
}
