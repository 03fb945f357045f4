package daemon

import (
	"context"
	"errors"
	"testing"
)

// The messages of Podman 4.3's races seen in CI runs, each as another
// build of the same daemon finished: TestClientInitTemplates' next build
// and TestCorpus' vite-react-ts.
var (
	errRuntimeKilled = errors.New(`building at STEP "RUN npm run build": while running runtime: signal: killed`)
	errLayerGone     = errors.New("checking if cached image exists from a previous build: getting top layer info: layer not known")
)

func TestBuildAgainIfRaced(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tc := range []struct {
		name      string
		ctx       context.Context
		errs      []error // what each run of the build returns
		wantRuns  int
		wantAgain int
		wantErr   bool
	}{
		{"killed runtime, built the second time", context.Background(), []error{errRuntimeKilled, nil}, 2, 1, false},
		{"killed runtime twice: the second error stands", context.Background(), []error{errRuntimeKilled, errRuntimeKilled}, 2, 1, true},
		{"cached layer gone, built the second time", context.Background(), []error{errLayerGone, nil}, 2, 1, false},
		{"the build's own process killed (out of memory)", context.Background(), []error{errors.New(`building at STEP "RUN make": while running runtime: exit status 137`)}, 1, 0, true},
		{"another failure", context.Background(), []error{errors.New("npm ERR! missing script: build")}, 1, 0, true},
		{"killed because the push was cancelled", cancelled, []error{errRuntimeKilled}, 1, 0, true},
		{"success", context.Background(), []error{nil}, 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs, again := 0, 0
			id, err := buildAgainIfRaced(tc.ctx, func() (string, error) {
				err := tc.errs[runs]
				runs++
				if err != nil {
					return "", err
				}
				return "img", nil
			}, func(error) { again++ })
			if runs != tc.wantRuns || again != tc.wantAgain || (err != nil) != tc.wantErr || (err == nil && id != "img") {
				t.Fatalf("runs %d, again %d, id %q, err %v; want runs %d, again %d, error %t", runs, again, id, err, tc.wantRuns, tc.wantAgain, tc.wantErr)
			}
		})
	}
}
