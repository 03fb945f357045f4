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

const dokkuAppJSON = `{
  "name": "demo",
  "healthchecks": {
    "web": [
      {"type": "startup", "name": "web check", "description": "Checking /health", "path": "/health",
       "content": "ok", "attempts": 5, "wait": 2, "timeout": 5, "initialDelay": 1, "port": 5000}
    ],
    "worker": [{"type": "liveness", "attempts": 3}]
  },
  "cron": [
    {"command": "python manage.py clearsessions", "schedule": "@daily"},
    {"command": "node jobs/report.js", "schedule": "*/5 * * * *"},
    {"command": "true", "schedule": "@every 90s"}
  ],
  "scripts": {
    "dokku": {"predeploy": "python manage.py migrate", "postdeploy": "curl -fsS localhost"},
    "postdeploy": "overridden by dokku"
  }
}
`

func TestParseAppJSON(t *testing.T) {
	tests := []struct {
		name, in string
		want     *AppJSON
		err      string
	}{
		{name: "dokku sample", in: dokkuAppJSON, want: &AppJSON{
			Healthchecks: map[string][]Healthcheck{
				"web":    {{Type: "startup", Name: "web check", Path: "/health", Content: "ok", Attempts: 5, Wait: 2, Timeout: 5, InitialDelay: 1, Port: 5000}},
				"worker": {{Type: "liveness", Attempts: 3}},
			},
			Cron: []CronJob{
				{"python manage.py clearsessions", "@daily"},
				{"node jobs/report.js", "*/5 * * * *"},
				{"true", "@every 90s"},
			},
			Scripts: map[string]string{"predeploy": "python manage.py migrate", "postdeploy": "curl -fsS localhost"},
		}},
		{name: "heroku scripts", in: `{"scripts": {"postdeploy": "bin/seed", "other": {"x": 1}}}`,
			want: &AppJSON{Scripts: map[string]string{"postdeploy": "bin/seed"}}},
		{name: "empty object", in: `{}`, want: &AppJSON{}},
		{name: "syntax error", in: "{\n  \"cron\": [\n    {\"command\": \"x\",, \"schedule\": \"@daily\"}\n  ]\n}\n",
			err: "app.json line 3, column 21: invalid character ','"},
		{name: "truncated", in: "{\n  \"cron\": [\n", err: "app.json line 3, column 1: unexpected end of JSON input"},
		{name: "wrong type", in: "{\n  \"healthchecks\": {\"web\": [{\"attempts\": \"five\"}]}\n}",
			err: "attempts: want a number, got string"},
		{name: "wrong type line", in: "{\n  \"healthchecks\": {\"web\": [{\"attempts\": \"five\"}]}\n}",
			err: "app.json line 2,"},
		{name: "cron not a list", in: `{"cron": {"command": "x"}}`, err: "cron: want an array, got object"},
		{name: "script not a string", in: `{"scripts": {"postdeploy": 3}}`, err: "app.json scripts.postdeploy: want a string, got number"},
		{name: "dokku scripts not strings", in: `{"scripts": {"dokku": {"predeploy": 3}}}`, err: "app.json scripts.dokku: want an object of strings"},
		{name: "cron missing schedule", in: `{"cron": [{"command": "x"}]}`, err: "app.json cron[0].schedule: must not be empty"},
		{name: "cron missing command", in: `{"cron": [{"schedule": "@daily"}]}`, err: "app.json cron[0].command: must not be empty"},
		{name: "cron six fields", in: `{"cron": [{"command": "x", "schedule": "0 * * * * *"}]}`, err: "want 5 fields"},
		{name: "cron minute out of range", in: `{"cron": [{"command": "x", "schedule": "61 * * * *"}]}`, err: `app.json cron[0].schedule: "61 * * * *": end of range (61) above maximum (59)`},
		{name: "cron bad descriptor", in: `{"cron": [{"command": "x", "schedule": "@sometimes"}]}`, err: `unknown descriptor "@sometimes"`},
		{name: "cron bad every", in: `{"cron": [{"command": "x", "schedule": "@every soon"}]}`, err: "@every wants a positive duration"},
		{name: "healthcheck type", in: `{"healthchecks": {"web": [{"type": "sometimes"}]}}`, err: "app.json healthchecks.web[0].type"},
		{name: "healthcheck path", in: `{"healthchecks": {"web": [{"path": "health"}]}}`, err: "healthchecks.web[0].path: must start with /"},
		{name: "healthcheck negative", in: `{"healthchecks": {"web": [{"wait": -1}]}}`, err: "healthchecks.web[0].wait: must not be negative"},
		{name: "healthcheck process type", in: `{"healthchecks": {"we b": []}}`, err: `process type "we b"`},
		{name: "not an object", in: `[1]`, err: "app.json line 1, column"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAppJSON([]byte(tt.in))
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
				t.Errorf("got %+v, want %+v", got, tt.want)
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
			if !processType.MatchString(p.Type) {
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

func FuzzParseAppJSON(f *testing.F) {
	for _, s := range []string{
		dokkuAppJSON, `{}`, `null`, `[]`, `{"cron": [{"command": "x", "schedule": "@daily"}]}`,
		`{"healthchecks": {"web": [{"attempts": "x"}]}}`, `{"scripts": {"dokku": {"predeploy": "a"}}}`,
		"{\n\"cron\": [\n", `{"scripts": {"a": [1]}}`, `{"healthchecks": {"web": [{"port": 99999}]}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		app, err := ParseAppJSON(in)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "app.json") {
				t.Errorf("error does not name app.json: %v", err)
			}
			return
		}
		for _, job := range app.Cron {
			if strings.TrimSpace(job.Command) == "" || checkSchedule(job.Schedule) != nil {
				t.Errorf("invalid cron job accepted: %+v", job)
			}
		}
		for typ := range app.Healthchecks {
			if !processType.MatchString(typ) {
				t.Errorf("bad process type %q", typ)
			}
		}
	})
}
