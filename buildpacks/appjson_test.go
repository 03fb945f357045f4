package buildpacks

import (
	"reflect"
	"strings"
	"testing"
)

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
    "postdeploy": "bin/seed"
  }
}
`

// herokuAppJSON is shaped like the app.json of Heroku's getting-started
// apps and buttons, with the comments and trailing commas Dokku accepts.
const herokuAppJSON = `// A sample app.
{
  "name": "Start on Heroku: Node.js", // metadata
  "description": "A barebones Node.js app",
  "repository": "https://example.com/node-js-getting-started",
  "keywords": ["node", "express",],
  /* what runs */
  "formation": {
    "web": {"quantity": 2, "size": "basic"},
    "worker": {"quantity": 1},
  },
  "env": {
    "SECRET_TOKEN": {"description": "signs sessions", "generator": "secret"},
    "WEB_CONCURRENCY": {"value": "5"},
    "GREETING": "hi",
    "API_KEY": {"description": "the key of the API"},
    "OPTIONAL": {"required": false},
  },
  "addons": ["heroku-postgresql"],
  "scripts": {"postdeploy": {"command": "bin/seed", "size": "large"}, "pr-predestroy": "bin/clean"},
  "healthchecks": {"web": [{"type": "liveness", "path": "/health", "attempts": 2, "wait": 3, "uptime": 5}]},
  "colour": "blue",
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
			Scripts: Scripts{Predeploy: "python manage.py migrate", Postdeploy: "curl -fsS localhost", FirstDeploy: "bin/seed"},
			Notes:   []string{"app.json healthchecks.worker is not supported; ignored (only web processes are health-checked)"},
		}},
		{name: "heroku sample with comments", in: herokuAppJSON, want: &AppJSON{
			Healthchecks: map[string][]Healthcheck{"web": {{Type: "liveness", Path: "/health", Attempts: 2, Wait: 3}}},
			Scripts:      Scripts{FirstDeploy: "bin/seed"},
			Formation:    map[string]int{"web": 2, "worker": 1},
			Env: []EnvVar{
				{Name: "API_KEY", Required: true},
				{Name: "GREETING", Value: "hi", HasValue: true, Required: true},
				{Name: "OPTIONAL"},
				{Name: "SECRET_TOKEN", Generator: "secret", Required: true},
				{Name: "WEB_CONCURRENCY", Value: "5", HasValue: true, Required: true},
			},
			Notes: []string{
				"app.json addons is not supported; ignored (create services with services:create and link them with services:link)",
				"app.json colour is not a key xcloud knows; ignored",
				"app.json healthchecks.web[0].uptime is not supported; ignored",
				"app.json scripts.postdeploy.size is not supported; ignored (xcloud has no dyno sizes)",
				"app.json scripts.pr-predestroy is not supported; ignored (xcloud has no review apps)",
				"app.json formation.web.size is not supported; ignored (xcloud has no dyno sizes; `resources APP` caps containers)",
			},
		}},
		{name: "heroku scripts", in: `{"scripts": {"postdeploy": "bin/seed", "other": {"x": 1}}}`,
			want: &AppJSON{Scripts: Scripts{FirstDeploy: "bin/seed"}, Notes: []string{
				"app.json scripts.other is not supported; ignored (xcloud runs scripts.dokku.predeploy, scripts.dokku.postdeploy and scripts.postdeploy)"}}},
		{name: "empty object", in: `{}`, want: &AppJSON{}},
		{name: "only comments around", in: "// nothing\n{ /* still nothing */ }\n// end", want: &AppJSON{}},
		{name: "null", in: `null`, want: &AppJSON{}},
		{name: "syntax error", in: "{\n  \"cron\": [\n    {\"command\": \"x\",, \"schedule\": \"@daily\"}\n  ]\n}\n",
			err: "app.json line 3, column 21: invalid character ','"},
		{name: "unclosed comment", in: "{\n  /* open\n}\n", err: "app.json line 2, column 3:"},
		{name: "truncated", in: "{\n  \"cron\": [\n", err: "app.json line 3, column 1:"},
		{name: "wrong type", in: "{\n  \"healthchecks\": {\"web\": [{\"attempts\": \"five\"}]}\n}",
			err: "attempts: want a whole number, got string"},
		{name: "wrong type line", in: "{\n  \"healthchecks\": {\"web\": [{\"attempts\": \"five\"}]}\n}",
			err: "app.json line 2,"},
		{name: "wrong type after a comment", in: "{\n// one\n// two\n  \"cron\": {\"command\": \"x\"}\n}",
			err: "app.json line 4, column 11: cron: want an array, got object"},
		{name: "cron not a list", in: `{"cron": {"command": "x"}}`, err: "cron: want an array, got object"},
		{name: "script not a string", in: `{"scripts": {"postdeploy": 3}}`, err: "app.json line 1, column 28: scripts.postdeploy: want a string, got number"},
		{name: "dokku scripts not strings", in: "{\"scripts\": {\n  \"dokku\": {\"predeploy\": 3}}}",
			err: "app.json line 2, column 26: scripts.dokku.predeploy: want a string, got number"},
		{name: "dokku scripts not an object", in: `{"scripts": {"dokku": "x"}}`, err: "scripts.dokku: want an object, got string"},
		{name: "cron missing schedule", in: `{"cron": [{"command": "x"}]}`, err: "app.json cron[0].schedule: must not be empty"},
		{name: "cron missing command", in: `{"cron": [{"schedule": "@daily"}]}`, err: "app.json cron[0].command: must not be empty (line 1)"},
		{name: "cron six fields", in: `{"cron": [{"command": "x", "schedule": "0 * * * * *"}]}`, err: "want 5 fields"},
		{name: "cron minute out of range", in: "{\"cron\": [\n{\"command\": \"x\",\n \"schedule\": \"61 * * * *\"}]}", err: `app.json cron[0].schedule: "61 * * * *": end of range (61) above maximum (59): 61 (line 3)`},
		{name: "cron bad descriptor", in: `{"cron": [{"command": "x", "schedule": "@sometimes"}]}`, err: `unknown descriptor "@sometimes"`},
		{name: "cron bad every", in: `{"cron": [{"command": "x", "schedule": "@every soon"}]}`, err: "@every wants a positive duration"},
		{name: "healthcheck type", in: `{"healthchecks": {"web": [{"type": "sometimes"}]}}`, err: "app.json healthchecks.web[0].type"},
		{name: "healthcheck path", in: `{"healthchecks": {"web": [{"path": "health"}]}}`, err: "healthchecks.web[0].path: must start with /"},
		{name: "healthcheck negative", in: `{"healthchecks": {"web": [{"wait": -1}]}}`, err: "healthchecks.web[0].wait: want 0 to 86400, got -1"},
		{name: "healthcheck huge", in: `{"healthchecks": {"web": [{"timeout": 99999999999}]}}`, err: "healthchecks.web[0].timeout: want 0 to 86400"},
		{name: "healthcheck process type", in: `{"healthchecks": {"we b": []}}`, err: `process type "we b"`},
		{name: "not an object", in: `[1]`, err: "app.json line 1, column 1: top level: want an object, got array"},
		{name: "formation negative", in: "{\n  \"formation\": {\n    \"web\": {\"quantity\": -1}\n  }\n}",
			err: "app.json formation.web.quantity: want 0 to 32, got -1 (line 3)"},
		{name: "formation huge", in: `{"formation": {"web": {"quantity": 1000}}}`, err: "app.json formation.web.quantity: want 0 to 32, got 1000 (line 1)"},
		{name: "formation enormous", in: `{"formation": {"web": {"quantity": 1e40}}}`, err: "formation.web.quantity: want a whole number, got number 1e40"},
		{name: "formation fraction", in: `{"formation": {"web": {"quantity": 1.5}}}`, err: "formation.web.quantity: want a whole number, got number 1.5"},
		{name: "formation type", in: `{"formation": {"web server": {"quantity": 1}}}`, err: `app.json formation: process type "web server" must match`},
		{name: "formation not an object", in: `{"formation": {"web": 2}}`, err: "app.json line 1, column 23: formation.web: want an object, got number"},
		{name: "env bad name", in: `{"env": {"1X": "y"}}`, err: `app.json env: "1X" is not a config var name`},
		{name: "env bad generator", in: "{\"env\": {\n\"X\": {\"generator\": \"uuid\"}}}", err: `app.json env.X.generator: want "secret", got "uuid" (line 2)`},
		{name: "env value not a string", in: `{"env": {"X": {"value": 3}}}`, err: "app.json line 1, column 25: env.X.value: want a string, got number"},
		{name: "env required not a bool", in: `{"env": {"X": {"required": "yes"}}}`, err: "env.X.required: want true or false, got string"},
		{name: "top-level key in another case", in: "{\n  \"Formation\": {}}", err: "app.json Formation: keys are case-sensitive: want formation (line 2)"},
		{name: "nested key in another case", in: `{"healthchecks": {"web": [{"Path": "/x"}]}}`, err: "app.json healthchecks.web[0].Path: keys are case-sensitive: want path (line 1)"},
		{name: "env null", in: `{"env": {"X": null}}`, err: "app.json env.X: want an object or a string, got null"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseAppJSON([]byte(tt.in))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want %q", err, tt.err)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error is not one line: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func FuzzParseAppJSON(f *testing.F) {
	for _, s := range []string{
		dokkuAppJSON, herokuAppJSON, `{}`, `null`, `[]`, `{"cron": [{"command": "x", "schedule": "@daily"}]}`,
		`{"healthchecks": {"web": [{"attempts": "x"}]}}`, `{"scripts": {"dokku": {"predeploy": "a"}}}`,
		"{\n\"cron\": [\n", `{"scripts": {"a": [1]}}`, `{"healthchecks": {"web": [{"port": 99999}]}}`,
		"{/* c */ \"env\": {\"A\": {\"value\": \"b\",},},}", `{"formation": {"web": {"quantity": 33}}}`,
		`{"env": {"a/b~c": 1}}`, `{"formation": {"x~1": {}}}`,
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
			if !processType().MatchString(typ) {
				t.Errorf("bad process type %q", typ)
			}
		}
		for typ, n := range app.Formation {
			if !processType().MatchString(typ) || n < 0 || n > MaxQuantity {
				t.Errorf("bad formation %s=%d", typ, n)
			}
		}
		for _, e := range app.Env {
			if !ValidEnvName(e.Name) || (e.Generator != "" && e.Generator != "secret") {
				t.Errorf("bad env entry %+v", e)
			}
		}
		for _, n := range app.Notes {
			if !strings.HasPrefix(n, "app.json ") || strings.Contains(n, "\n") {
				t.Errorf("bad note %q", n)
			}
		}
	})
}
