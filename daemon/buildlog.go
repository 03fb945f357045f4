package daemon

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/xcloud-dev/xcloud/buildpacks"
	"github.com/xcloud-dev/xcloud/daemon/gitsrc"
	"github.com/xcloud-dev/xcloud/daemon/podman"
	"github.com/xcloud-dev/xcloud/internal/lazyre"
)

// buildOutput shapes Podman's build output for the pusher; the build log
// keeps the raw stream. For a generated Containerfile the user sees the
// steps that matter under headings ("-----> Compiling (go build)") with
// their output, and none of Podman's machinery: STEP lines, layer hashes,
// LABEL and COMMIT steps, tags. For the repository's own Containerfile the
// STEP lines stay, numbered as in the user's file, without hashes and
// without the LABEL steps xcloud adds.
type buildOutput struct {
	w         *progress
	generated bool
	steps     map[[2]int]buildpacks.Step
	// finalSteps is how many steps the file's last stage has; Podman adds
	// one more there per build label.
	finalSteps, labels int

	line     []byte // a line not yet ended
	cur      buildpacks.Step
	heading  string // the heading shown last
	cacheHit bool   // "Using cache" said under heading
	label    bool   // in a LABEL step xcloud added
}

func newBuildOutput(w *progress, containerfile []byte, generated bool, labels int) *buildOutput {
	b := &buildOutput{w: w, generated: generated, labels: labels, steps: map[[2]int]buildpacks.Step{}}
	for _, s := range buildpacks.Steps(containerfile) {
		b.steps[[2]int{s.Stage, s.Number}] = s
		if s.Number == 1 {
			b.finalSteps = 0
		}
		b.finalSteps++
	}
	return b
}

// The patterns that read a build's output are compiled on the first build.
var (
	// stepLine is Podman's "[2/2] STEP 3/7: RUN make"; single-stage builds
	// have no "[k/K] ".
	stepLine = lazyre.MustCompile(`^(?:\[(\d+)/(\d+)\] )?STEP (\d+)/(\d+): (.*)$`)
	// layerLine is "--> 1a2b3c4d5e6" or "--> Using cache 1a2b…".
	layerLine  = lazyre.MustCompile(`^--> (Using cache )?[0-9a-f]{6,}$`)
	commitLine = lazyre.MustCompile(`^(?:\[\d+/\d+\] )?COMMIT\b`)
	// warnLine is a warning Podman logs into the stream in logfmt.
	warnLine = lazyre.MustCompile(`^time="[^"]*" level=(\w+) msg="((?:[^"\\]|\\.)*)"`)
	// xcloudLabel is a LABEL step Podman adds for the build's labels.
	xcloudLabel = lazyre.MustCompile(`^LABEL "?xcloud\.`)
)

// machinery are lines of image plumbing that tell the user nothing.
var machinery = []string{
	"Successfully tagged ",
	"Getting image source signatures",
	"Copying blob ",
	"Copying config ",
	"Writing manifest to image destination",
	"Storing signatures",
}

func (b *buildOutput) Write(p []byte) (int, error) {
	for _, c := range p {
		if c == '\n' {
			if err := b.emit(string(b.line)); err != nil {
				return 0, err
			}
			b.line = b.line[:0]
			continue
		}
		b.line = append(b.line, c)
	}
	return len(p), nil
}

// flush shows a last line that did not end.
func (b *buildOutput) flush() {
	if len(b.line) > 0 {
		_ = b.emit(string(b.line)) // a pusher gone away reads no more
		b.line = b.line[:0]
	}
}

func (b *buildOutput) emit(line string) error {
	line = strings.TrimSuffix(line, "\r")
	if m := stepLine().FindStringSubmatch(line); m != nil {
		return b.step(m)
	}
	if layerLine().MatchString(line) {
		if strings.HasPrefix(line, "--> Using cache") {
			return b.cached()
		}
		return nil
	}
	if commitLine().MatchString(line) || podman.IsImageID(line) {
		return nil
	}
	for _, p := range machinery {
		if strings.HasPrefix(line, p) {
			return nil
		}
	}
	if m := warnLine().FindStringSubmatch(line); m != nil {
		msg, err := strconv.Unquote(`"` + m[2] + `"`)
		if err != nil {
			msg = m[2]
		}
		line = m[1] + ": " + msg
	}
	if b.generated && strings.TrimSpace(line) == "" {
		return nil // npm and friends frame their output with blank lines
	}
	return b.print(line)
}

// step handles a STEP line: a heading, or for the user's own file the
// line itself.
func (b *buildOutput) step(m []string) error {
	stage, stages := 1, 1
	if m[1] != "" {
		stage, _ = strconv.Atoi(m[1])
		stages, _ = strconv.Atoi(m[2])
	}
	n, _ := strconv.Atoi(m[3])
	total, _ := strconv.Atoi(m[4])
	text := m[5]
	b.cur, b.label = buildpacks.Step{}, false
	if s, ok := b.steps[[2]int{stage, n}]; ok && strings.EqualFold(firstWord(text), s.Keyword) {
		b.cur = s
	}
	if b.generated {
		if b.cur.Heading != "" && b.cur.Heading != b.heading {
			b.heading, b.cacheHit = b.cur.Heading, false
			b.w.step("%s", b.heading)
		}
		return nil
	}
	if xcloudLabel().MatchString(text) {
		b.label = true
		return nil
	}
	// Number the last stage's steps as the user's file does, when the
	// count is off by exactly the labels Podman added.
	if stage == stages && total == b.finalSteps+b.labels && n <= b.finalSteps {
		total = b.finalSteps
	}
	prefix := ""
	if m[1] != "" {
		prefix = fmt.Sprintf("[%d/%d] ", stage, stages)
	}
	return b.print(fmt.Sprintf("%sSTEP %d/%d: %s", prefix, n, total, text))
}

// cached says a step came from the layer cache: under its heading for a
// generated file, once; as Podman does, without the hash, for the user's.
func (b *buildOutput) cached() error {
	if !b.generated {
		if b.label {
			return nil
		}
		return b.print("--> Using cache")
	}
	if b.cur.Heading == "" || b.cacheHit {
		return nil
	}
	b.cacheHit = true
	return b.print("Using cache")
}

func (b *buildOutput) print(line string) error {
	_, err := fmt.Fprintf(b.w, "       %s\n", line)
	return err
}

func firstWord(s string) string {
	w, _, _ := strings.Cut(strings.TrimSpace(s), " ")
	return w
}

// buildFile is the Containerfile a build runs, for numbering its steps; nil
// when it cannot be read, which only costs the numbering.
func (d *Daemon) buildFile(plan *buildpacks.Plan, in buildInputs, src *gitsrc.Source) []byte {
	if plan.Generated != nil {
		return in.generated
	}
	b, err := readLimited(src.FS(), plan.Containerfile)
	if err != nil {
		d.log.Warn("read the Containerfile for the push output", "file", plan.Containerfile, "err", err)
	}
	return b
}
