package buildpacks

import (
	"bufio"
	"fmt"
	"io"
	"strings"

	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// processType is what a Procfile process type must look like.
var processType = lazyre.MustCompile(`^[a-zA-Z0-9_-]+$`)

// maxProcfileLine bounds one Procfile line.
const maxProcfileLine = 64 << 10

// ParseProcfile parses a Heroku-style Procfile: one "type: command" per line,
// in file order. Blank lines and lines starting with # are skipped. Types
// must match ^[a-zA-Z0-9_-]+$ and appear once; commands must not be empty.
// Errors name the offending line.
func ParseProcfile(r io.Reader) ([]Process, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), maxProcfileLine)
	var procs []Process
	first := map[string]int{} // process type → line it was defined on
	n := 0
	for sc.Scan() {
		n++
		line := sc.Text()
		if n == 1 {
			line = strings.TrimPrefix(line, "\uFEFF")
		}
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, cmd, ok := strings.Cut(line, ":")
		if !ok {
			return nil, fmt.Errorf("Procfile line %d: want \"type: command\", got %q", n, line)
		}
		typ, cmd = strings.TrimSpace(typ), strings.TrimSpace(cmd)
		if !processType().MatchString(typ) {
			return nil, fmt.Errorf("Procfile line %d: process type %q must match %s", n, typ, processType())
		}
		if cmd == "" {
			return nil, fmt.Errorf("Procfile line %d: process type %q has an empty command", n, typ)
		}
		if prev, dup := first[typ]; dup {
			return nil, fmt.Errorf("Procfile line %d: duplicate process type %q (first on line %d)", n, typ, prev)
		}
		first[typ] = n
		procs = append(procs, Process{Type: typ, Command: cmd})
	}
	if err := sc.Err(); err != nil {
		if err == bufio.ErrTooLong {
			return nil, fmt.Errorf("Procfile line %d: longer than %d bytes", n+1, maxProcfileLine)
		}
		return nil, fmt.Errorf("Procfile: %w", err)
	}
	return procs, nil
}
