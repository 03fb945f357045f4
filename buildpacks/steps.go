package buildpacks

import "strings"

// headingMarker starts the comment a generated Containerfile puts before a
// step whose output the push shows under a heading; the comment reads as
// the push output does.
const headingMarker = "# -----> "

// Step is one build step of a Containerfile, numbered as Podman numbers them
// in its output ("[2/2] STEP 3/7: …"): stages from 1, one per FROM, and
// steps from 1, the FROM, within a stage.
type Step struct {
	Stage   int
	Number  int
	Keyword string // the instruction, upper case: FROM, RUN, COPY…
	// Heading is what the push output shows for the step, from a generated
	// Containerfile's heading comment; "" for steps without one.
	Heading string
}

// Steps lists a Containerfile's build steps in order. ARG instructions
// before the first FROM are not steps.
func Steps(containerfile []byte) []Step {
	var out []Step
	stage, n := 0, 0
	for _, in := range instructions(containerfile) {
		kw := strings.ToUpper(in.keyword)
		if kw == "FROM" {
			stage, n = stage+1, 0
		}
		if stage == 0 {
			continue
		}
		n++
		out = append(out, Step{Stage: stage, Number: n, Keyword: kw, Heading: in.heading})
	}
	return out
}

// heading writes the comment that makes the next instruction's output show
// under heading in the push (see Steps).
func (w *cfWriter) heading(heading string) {
	w.line("%s%s", headingMarker, heading)
}
