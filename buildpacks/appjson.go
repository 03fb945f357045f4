package buildpacks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// AppJSON is the part of an app.json (Heroku/Dokku format) that xcloud uses.
type AppJSON struct {
	// Healthchecks maps a process type to its checks (Dokku format).
	Healthchecks map[string][]Healthcheck `json:"healthchecks"`
	// Cron lists scheduled one-off commands.
	Cron []CronJob `json:"cron"`
	// Scripts holds deploy hooks by name ("predeploy", "postdeploy"),
	// flattened: Dokku's nested {"scripts": {"dokku": {"predeploy": ...}}}
	// and Heroku's flat {"scripts": {"postdeploy": ...}} both land here, the
	// Dokku entry winning when both name the same hook. Other nested objects
	// are ignored.
	Scripts map[string]string `json:"scripts"`
}

// Healthcheck is one Dokku-style check of a process type.
type Healthcheck struct {
	Type         string `json:"type"`         // "startup" (default when empty), "liveness" or "readiness"
	Name         string `json:"name"`         // label shown in logs
	Path         string `json:"path"`         // HTTP path, starting with "/"; empty for a plain TCP check
	Content      string `json:"content"`      // substring the response body must contain
	Attempts     int    `json:"attempts"`     // tries before giving up; 0 means the daemon's default
	Wait         int    `json:"wait"`         // seconds between tries
	Timeout      int    `json:"timeout"`      // seconds per try
	InitialDelay int    `json:"initialDelay"` // seconds before the first try
	Port         int    `json:"port"`         // container port; 0 means $PORT
}

// CronJob is one scheduled command.
type CronJob struct {
	Command  string `json:"command"`  // shell command line
	Schedule string `json:"schedule"` // five cron fields or an @descriptor such as @daily or @every 1h
}

// rawAppJSON is app.json before scripts are flattened.
type rawAppJSON struct {
	Healthchecks map[string][]Healthcheck   `json:"healthchecks"`
	Cron         []CronJob                  `json:"cron"`
	Scripts      map[string]json.RawMessage `json:"scripts"`
}

// ParseAppJSON parses and lightly validates an app.json. Syntax errors name
// the line and column, type errors also the key, and invalid entries the key.
func ParseAppJSON(b []byte) (*AppJSON, error) {
	var raw rawAppJSON
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, jsonError("app.json", b, err)
	}
	app := &AppJSON{Healthchecks: raw.Healthchecks, Cron: raw.Cron}

	for _, proc := range sortedKeys(raw.Healthchecks) {
		if !processType.MatchString(proc) {
			return nil, fmt.Errorf("app.json healthchecks: process type %q must match %s", proc, processType)
		}
		for i, hc := range raw.Healthchecks[proc] {
			key := fmt.Sprintf("healthchecks.%s[%d]", proc, i)
			switch hc.Type {
			case "", "startup", "liveness", "readiness":
			default:
				return nil, fmt.Errorf("app.json %s.type: want startup, liveness or readiness, got %q", key, hc.Type)
			}
			if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
				return nil, fmt.Errorf("app.json %s.path: must start with /, got %q", key, hc.Path)
			}
			for _, f := range []struct {
				name string
				v    int
			}{{"attempts", hc.Attempts}, {"wait", hc.Wait}, {"timeout", hc.Timeout}, {"initialDelay", hc.InitialDelay}} {
				if f.v < 0 {
					return nil, fmt.Errorf("app.json %s.%s: must not be negative, got %d", key, f.name, f.v)
				}
			}
			if hc.Port < 0 || hc.Port > 65535 {
				return nil, fmt.Errorf("app.json %s.port: want 1-65535, got %d", key, hc.Port)
			}
		}
	}

	for i, job := range raw.Cron {
		key := fmt.Sprintf("cron[%d]", i)
		if strings.TrimSpace(job.Command) == "" {
			return nil, fmt.Errorf("app.json %s.command: must not be empty", key)
		}
		if err := checkSchedule(job.Schedule); err != nil {
			return nil, fmt.Errorf("app.json %s.schedule: %w", key, err)
		}
	}

	if raw.Scripts != nil {
		app.Scripts = map[string]string{}
		var dokku map[string]string
		for _, name := range sortedKeys(raw.Scripts) {
			v := raw.Scripts[name]
			var s string
			switch {
			case json.Unmarshal(v, &s) == nil:
				app.Scripts[name] = s
			case name == "dokku":
				if err := json.Unmarshal(v, &dokku); err != nil {
					return nil, fmt.Errorf("app.json scripts.dokku: want an object of strings: %v", err)
				}
			case bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")):
				// Another platform's hooks: not ours.
			default:
				return nil, fmt.Errorf("app.json scripts.%s: want a string, got %s", name, jsonKind(v))
			}
		}
		for name, s := range dokku {
			app.Scripts[name] = s
		}
	}
	return app, nil
}

// checkSchedule checks a cron schedule: five fields the cron parser
// accepts, or a descriptor.
func checkSchedule(s string) error {
	s = strings.TrimSpace(s)
	if s == "" {
		return errors.New("must not be empty")
	}
	if strings.HasPrefix(s, "@") {
		if d, ok := strings.CutPrefix(s, "@every "); ok {
			dur, err := time.ParseDuration(strings.TrimSpace(d))
			if err != nil || dur <= 0 {
				return fmt.Errorf("@every wants a positive duration such as 90s or 1h, got %q", d)
			}
			return nil
		}
		switch s {
		case "@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly":
			return nil
		}
		return fmt.Errorf("unknown descriptor %q (want @yearly, @monthly, @weekly, @daily, @hourly or @every <duration>)", s)
	}
	if n := len(strings.Fields(s)); n != 5 {
		return fmt.Errorf("want 5 fields (minute hour day-of-month month day-of-week), got %d in %q", n, s)
	}
	if _, err := cron.ParseStandard(s); err != nil {
		return fmt.Errorf("%q: %v", s, err)
	}
	return nil
}

// jsonError describes a decoding error of file with its line and column and,
// for type errors, the key.
func jsonError(file string, b []byte, err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		off := syn.Offset - 1 // Offset counts the offending byte
		if strings.Contains(syn.Error(), "end of JSON input") {
			off = int64(len(b)) // no offending byte: point past the end
		}
		line, col := lineCol(b, off)
		return fmt.Errorf("%s line %d, column %d: %s", file, line, col, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		line, col := lineCol(b, typ.Offset-1)
		key := typ.Field
		if key == "" {
			key = "top level"
		}
		return fmt.Errorf("%s line %d, column %d: %s: want %s, got %s", file, line, col, key, goTypeName(typ.Type.Kind().String()), typ.Value)
	}
	return fmt.Errorf("%s: %s", file, strings.TrimPrefix(err.Error(), "json: "))
}

// lineCol converts the 0-based byte offset off of b into a 1-based line and
// column, clamping off into b.
func lineCol(b []byte, off int64) (line, col int) {
	if off > int64(len(b)) {
		off = int64(len(b))
	}
	if off < 0 {
		off = 0
	}
	prefix := b[:off]
	line = bytes.Count(prefix, []byte("\n")) + 1
	col = len(prefix) - bytes.LastIndexByte(prefix, '\n')
	return line, col
}

// goTypeName names a reflect kind in JSON terms.
func goTypeName(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "a number"
	case "string":
		return "a string"
	case "bool":
		return "true or false"
	case "slice", "array":
		return "an array"
	case "map", "struct":
		return "an object"
	}
	return kind
}

// jsonKind names the JSON type of the raw value v.
func jsonKind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "nothing"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		return "array"
	case '"':
		return "string"
	case 't', 'f':
		return "bool"
	case 'n':
		return "null"
	}
	return "number"
}

// sortedKeys returns m's keys in order, for deterministic errors.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
