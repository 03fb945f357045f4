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
	"github.com/tailscale/hujson"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// MaxQuantity bounds an app.json formation quantity: the same bound as
// ps:scale, for one box.
const MaxQuantity = 32

// AppJSON is the part of an app.json (Heroku/Dokku format) that xcloud uses.
// The file may hold comments and trailing commas, as Dokku allows.
type AppJSON struct {
	// Healthchecks maps a process type to its checks (Dokku format).
	Healthchecks map[string][]Healthcheck
	// Cron lists scheduled one-off commands.
	Cron []CronJob
	// Scripts are the deploy hooks.
	Scripts Scripts
	// Formation is the initial scale: process type → quantity.
	Formation map[string]int
	// Env lists the config vars the app declares, by name.
	Env []EnvVar
	// Notes name the keys present that xcloud does not act on, one line
	// each, for the push output: nothing parsed is ignored silently.
	Notes []string
}

// Scripts are app.json's deploy hooks.
type Scripts struct {
	// Predeploy (scripts.dokku.predeploy) runs in the new image before the
	// new containers start; what it writes to the image is kept; failing
	// aborts the deploy.
	Predeploy string
	// Postdeploy (scripts.dokku.postdeploy) runs after every deploy's swap;
	// failing does not undo the release.
	Postdeploy string
	// FirstDeploy (Heroku's scripts.postdeploy) runs once, after the app's
	// first successful deploy.
	FirstDeploy string
}

// EnvVar is one app.json env entry (Heroku's schema).
type EnvVar struct {
	Name string
	// Value is the default, set at the first deploy when HasValue and the
	// var is not set already.
	Value    string
	HasValue bool
	// Generator "secret" sets a random value at the first deploy.
	Generator string
	// Required: with no value and no generator, the var must be set
	// before the first deploy. Heroku's default is true.
	Required bool
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

// rawAppJSON is app.json as decoded, before validation.
type rawAppJSON struct {
	Healthchecks map[string][]Healthcheck   `json:"healthchecks"`
	Cron         []CronJob                  `json:"cron"`
	Scripts      map[string]json.RawMessage `json:"scripts"`
	Formation    map[string]json.RawMessage `json:"formation"`
	Env          map[string]json.RawMessage `json:"env"`
}

// Keys of app.json by what xcloud does with them. Metadata describes the
// app and changes nothing at run time, so it needs no note.
var (
	topKeys = map[string]string{
		"healthchecks": "", "cron": "", "scripts": "", "formation": "", "env": "",
		"name": "", "description": "", "keywords": "", "website": "", "repository": "",
		"logo": "", "success_url": "", "$schema": "",
		"addons":       "create services with services:create and link them with services:link",
		"buildpacks":   "xcloud detects the build, or builds the repository's Containerfile",
		"environments": "xcloud has no CI or review-app environments",
		"image":        "the daemon's [stack] settings pick the images",
		"stack":        "the daemon's [stack] settings pick the images",
	}
	healthcheckKeys = map[string]string{
		"type": "", "name": "", "path": "", "content": "", "attempts": "", "wait": "",
		"timeout": "", "initialDelay": "", "port": "", "description": "",
	}
	formationKeys = map[string]string{
		"quantity": "", "size": "xcloud has no dyno sizes; `resources APP` caps containers", "max_parallel": "xcloud starts containers one at a time",
	}
	envKeys    = map[string]string{"description": "", "value": "", "required": "", "generator": ""}
	scriptKeys = map[string]string{
		"dokku": "", "postdeploy": "",
		"pr-predestroy": "xcloud has no review apps",
	}
	dokkuScriptKeys = map[string]string{"predeploy": "", "postdeploy": ""}
)

// envNameRE is the rule of config var names but for the length, checked
// apart: Go expands a counted repetition such as {0,127} into as many
// copies, some 44 KB held for the life of the process.
var envNameRE = lazyre.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// ValidEnvName reports whether name is a valid config var name: at most
// 128 letters, digits and _, not starting with a digit.
func ValidEnvName(name string) bool { return len(name) <= 128 && envNameRE().MatchString(name) }

// ParseAppJSON parses and validates an app.json. Comments and trailing
// commas are allowed. Syntax errors name the line and column, type errors
// also the key, and invalid entries the key and line.
func ParseAppJSON(b []byte) (*AppJSON, error) {
	ast, err := hujson.Parse(b)
	if err != nil && !bytes.HasSuffix(b, []byte("\n")) {
		// A line comment on the last line needs the newline that ends it;
		// any other error is reported as the file has it.
		if ast2, err2 := hujson.Parse(append(slices.Clip(b), '\n')); err2 == nil {
			ast, err = ast2, nil
		}
	}
	if err != nil {
		return nil, fmt.Errorf("app.json %s", strings.TrimPrefix(err.Error(), "hujson: "))
	}
	// Comments and trailing commas become spaces: offsets and lines stay.
	ast.Standardize()
	d := &doc{b: ast.Pack(), ast: ast}

	var top map[string]json.RawMessage
	if err := json.Unmarshal(d.b, &top); err != nil {
		return nil, jsonError("app.json", d.b, err)
	}
	var raw rawAppJSON
	if err := json.Unmarshal(d.b, &raw); err != nil {
		return nil, jsonError("app.json", d.b, err)
	}
	app := &AppJSON{Healthchecks: raw.Healthchecks, Cron: raw.Cron}
	for _, k := range sortedKeys(top) {
		why, known := topKeys[k]
		switch {
		case !known && caseTwin(k, topKeys) != "":
			// encoding/json matched it anyway: acting on it would surprise.
			return nil, d.errorf(pointer(k), k, "keys are case-sensitive: want %s", caseTwin(k, topKeys))
		case !known:
			app.note("app.json %s is not a key xcloud knows; ignored", k)
		case why != "":
			app.note("app.json %s is not supported; ignored (%s)", k, why)
		}
	}
	if err := d.healthchecks(app, top["healthchecks"]); err != nil {
		return nil, err
	}
	for i, job := range raw.Cron {
		key, ptr := fmt.Sprintf("cron[%d]", i), pointer("cron", fmt.Sprint(i))
		if strings.TrimSpace(job.Command) == "" {
			return nil, d.errorf(ptr, key+".command", "must not be empty")
		}
		if err := checkSchedule(job.Schedule); err != nil {
			return nil, d.errorf(pointer("cron", fmt.Sprint(i), "schedule"), key+".schedule", "%v", err)
		}
	}
	if err := d.scripts(app, raw.Scripts); err != nil {
		return nil, err
	}
	if err := d.formation(app, raw.Formation); err != nil {
		return nil, err
	}
	if err := d.env(app, raw.Env); err != nil {
		return nil, err
	}
	return app, nil
}

func (app *AppJSON) note(format string, args ...any) {
	app.Notes = append(app.Notes, fmt.Sprintf(format, args...))
}

// doc is a standardized app.json with its syntax tree, to name the line of
// any value.
type doc struct {
	b   []byte
	ast hujson.Value
}

// pointer makes a JSON pointer (RFC 6901) of keys.
func pointer(keys ...string) string {
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteByte('/')
		sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
	}
	return sb.String()
}

// offset is where the value at ptr starts, or -1.
func (d *doc) offset(ptr string) int {
	if v := d.ast.Find(ptr); v != nil {
		return v.StartOffset
	}
	return -1
}

// errorf is an error about the value at ptr, named key, with its line.
func (d *doc) errorf(ptr, key, format string, args ...any) error {
	msg := fmt.Sprintf(format, args...)
	if off := d.offset(ptr); off >= 0 {
		line, _ := lineCol(d.b, int64(off))
		return fmt.Errorf("app.json %s: %s (line %d)", key, msg, line)
	}
	return fmt.Errorf("app.json %s: %s", key, msg)
}

// decode unmarshals raw, the value at ptr named key, into v; a type error
// names the key, line and column in the whole file.
func (d *doc) decode(ptr, key string, raw json.RawMessage, v any) error {
	err := json.Unmarshal(raw, v)
	if err == nil {
		return nil
	}
	var typ *json.UnmarshalTypeError
	if base := d.offset(ptr); errors.As(err, &typ) && base >= 0 {
		line, col := lineCol(d.b, int64(base)+typ.Offset-1)
		if typ.Field != "" {
			key += "." + typ.Field
		}
		return fmt.Errorf("app.json line %d, column %d: %s: want %s, got %s", line, col, key, goTypeName(typ.Type.Kind().String()), typ.Value)
	}
	return d.errorf(ptr, key, "%s", strings.TrimPrefix(err.Error(), "json: "))
}

// unknown notes the keys of the object raw (at ptr, named key) that xcloud
// does not act on: those missing from known, and those known with a
// reason. A known key spelt in another case is an error.
func (d *doc) unknown(app *AppJSON, ptr, key string, raw json.RawMessage, known map[string]string) error {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return nil // not an object: reported where it is decoded
	}
	for _, k := range sortedKeys(m) {
		why, ok := known[k]
		switch {
		case !ok && caseTwin(k, known) != "":
			return d.errorf(ptr+pointer(k), key+"."+k, "keys are case-sensitive: want %s", caseTwin(k, known))
		case !ok:
			app.note("app.json %s.%s is not supported; ignored", key, k)
		case why != "":
			app.note("app.json %s.%s is not supported; ignored (%s)", key, k, why)
		}
	}
	return nil
}

// caseTwin returns the key of known that k equals but for case, or "".
func caseTwin(k string, known map[string]string) string {
	for _, want := range sortedKeys(known) {
		if strings.EqualFold(k, want) {
			return want
		}
	}
	return ""
}

func (d *doc) healthchecks(app *AppJSON, raw json.RawMessage) error {
	var entries map[string][]json.RawMessage
	_ = json.Unmarshal(raw, &entries) // shape already checked with the whole file
	for _, proc := range sortedKeys(app.Healthchecks) {
		if !processType().MatchString(proc) {
			return d.errorf(pointer("healthchecks", proc), "healthchecks", "process type %q must match %s", proc, processType())
		}
		if proc != "web" && len(app.Healthchecks[proc]) > 0 {
			app.note("app.json healthchecks.%s is not supported; ignored (only web processes are health-checked)", proc)
		}
		for i, hc := range app.Healthchecks[proc] {
			key, ptr := fmt.Sprintf("healthchecks.%s[%d]", proc, i), pointer("healthchecks", proc, fmt.Sprint(i))
			if i < len(entries[proc]) {
				if err := d.unknown(app, ptr, key, entries[proc][i], healthcheckKeys); err != nil {
					return err
				}
			}
			switch hc.Type {
			case "", "startup", "liveness", "readiness":
			default:
				return d.errorf(ptr+"/type", key+".type", "want startup, liveness or readiness, got %q", hc.Type)
			}
			if hc.Path != "" && !strings.HasPrefix(hc.Path, "/") {
				return d.errorf(ptr+"/path", key+".path", "must start with /, got %q", hc.Path)
			}
			for _, f := range []struct {
				name string
				v    int
			}{{"attempts", hc.Attempts}, {"wait", hc.Wait}, {"timeout", hc.Timeout}, {"initialDelay", hc.InitialDelay}} {
				// A day bounds every wait: a larger one is a typo, and
				// seconds times time.Second must not overflow.
				if f.v < 0 || f.v > 86400 {
					return d.errorf(ptr+"/"+f.name, key+"."+f.name, "want 0 to 86400, got %d", f.v)
				}
			}
			if hc.Port < 0 || hc.Port > 65535 {
				return d.errorf(ptr+"/port", key+".port", "want 1-65535, got %d", hc.Port)
			}
		}
	}
	return nil
}

func (d *doc) scripts(app *AppJSON, raw map[string]json.RawMessage) error {
	for _, name := range sortedKeys(raw) {
		v, ptr, key := raw[name], pointer("scripts", name), "scripts."+name
		switch name {
		case "dokku":
			var dokku map[string]json.RawMessage
			if err := d.decode(ptr, key, v, &dokku); err != nil {
				return err
			}
			if err := d.unknown(app, ptr, key, v, dokkuScriptKeys); err != nil {
				return err
			}
			for _, hook := range []struct {
				name string
				dst  *string
			}{{"predeploy", &app.Scripts.Predeploy}, {"postdeploy", &app.Scripts.Postdeploy}} {
				if s, ok := dokku[hook.name]; ok {
					if err := d.decode(ptr+"/"+hook.name, key+"."+hook.name, s, hook.dst); err != nil {
						return err
					}
				}
			}
		case "postdeploy":
			// Heroku allows a command string or {"command": ..., "size": ...}.
			if bytes.HasPrefix(bytes.TrimSpace(v), []byte("{")) {
				var obj struct {
					Command string `json:"command"`
				}
				if err := d.decode(ptr, key, v, &obj); err != nil {
					return err
				}
				if err := d.unknown(app, ptr, key, v, map[string]string{"command": "", "size": "xcloud has no dyno sizes"}); err != nil {
					return err
				}
				app.Scripts.FirstDeploy = obj.Command
				continue
			}
			if err := d.decode(ptr, key, v, &app.Scripts.FirstDeploy); err != nil {
				return err
			}
		default:
			why, ok := scriptKeys[name]
			if twin := caseTwin(name, scriptKeys); !ok && twin != "" {
				return d.errorf(ptr, key, "keys are case-sensitive: want %s", twin)
			}
			if !ok {
				why = "xcloud runs scripts.dokku.predeploy, scripts.dokku.postdeploy and scripts.postdeploy"
			}
			app.note("app.json %s is not supported; ignored (%s)", key, why)
		}
	}
	return nil
}

func (d *doc) formation(app *AppJSON, raw map[string]json.RawMessage) error {
	for _, typ := range sortedKeys(raw) {
		ptr, key := pointer("formation", typ), "formation."+typ
		if !processType().MatchString(typ) {
			return d.errorf(ptr, "formation", "process type %q must match %s", typ, processType())
		}
		var f struct {
			Quantity *int `json:"quantity"`
		}
		if err := d.decode(ptr, key, raw[typ], &f); err != nil {
			return err
		}
		if err := d.unknown(app, ptr, key, raw[typ], formationKeys); err != nil {
			return err
		}
		if f.Quantity == nil {
			continue
		}
		if *f.Quantity < 0 || *f.Quantity > MaxQuantity {
			return d.errorf(ptr+"/quantity", key+".quantity", "want 0 to %d, got %d", MaxQuantity, *f.Quantity)
		}
		if app.Formation == nil {
			app.Formation = map[string]int{}
		}
		app.Formation[typ] = *f.Quantity
	}
	return nil
}

func (d *doc) env(app *AppJSON, raw map[string]json.RawMessage) error {
	for _, name := range sortedKeys(raw) {
		ptr, key := pointer("env", name), "env."+name
		if !ValidEnvName(name) {
			return d.errorf(ptr, "env", "%q is not a config var name (letters, digits and _, not starting with a digit)", name)
		}
		v := raw[name]
		e := EnvVar{Name: name, Required: true}
		if bytes.HasPrefix(bytes.TrimSpace(v), []byte(`"`)) {
			// Heroku's shorthand: "NAME": "value".
			if err := d.decode(ptr, key, v, &e.Value); err != nil {
				return err
			}
			e.HasValue = true
			app.Env = append(app.Env, e)
			continue
		}
		var obj struct {
			Value     *string `json:"value"`
			Required  *bool   `json:"required"`
			Generator string  `json:"generator"`
		}
		if err := d.decode(ptr, key, v, &obj); err != nil {
			return err
		}
		if bytes.Equal(bytes.TrimSpace(v), []byte("null")) {
			return d.errorf(ptr, key, "want an object or a string, got null")
		}
		if err := d.unknown(app, ptr, key, v, envKeys); err != nil {
			return err
		}
		if obj.Value != nil {
			e.Value, e.HasValue = *obj.Value, true
		}
		if obj.Required != nil {
			e.Required = *obj.Required
		}
		switch obj.Generator {
		case "":
		case "secret":
			e.Generator = obj.Generator
		default:
			return d.errorf(ptr+"/generator", key+".generator", `want "secret", got %q`, obj.Generator)
		}
		app.Env = append(app.Env, e)
	}
	return nil
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
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "a whole number"
	case "float32", "float64":
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

// sortedKeys returns m's keys in order, for deterministic errors.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
