package admin

import (
	"strings"
	"testing"
)

func TestRunAndCronCommandsNeedARelease(t *testing.T) {
	d, _, _ := newKeysDaemon(t) // apps web and api exist, without releases
	for _, tt := range []struct {
		args []string
		err  string
	}{
		{[]string{"run", "web"}, "want a command to run"},
		// Everything after the app is the command: its flags are not ours.
		{[]string{"run", "web", "ls", "--json", "-x"}, "no release yet"},
		{[]string{"cron:run", "web", "abcd1234"}, "no release yet"},
		{[]string{"cron:run", "web"}, "want 2 argument(s)"},
		{[]string{"cron:runs", "web", "-n", "0"}, "-n 0"},
		{[]string{"cron:log", "web"}, "web has no cron runs yet"},
		{[]string{"run", "nope", "ls"}, `app "nope" does not exist`},
	} {
		code, _, errs := runKeysCmd(d, keysAdmin, "", tt.args...)
		if code == 0 || !strings.Contains(errs, tt.err) || strings.Count(errs, "\n") != 1 {
			t.Errorf("%v: exit %d, stderr %q; want one line containing %q", tt.args, code, errs, tt.err)
		}
	}
	if code, out, errs := runKeysCmd(d, keysAdmin, "", "cron", "web"); code != 0 || !strings.Contains(out, "no cron jobs") {
		t.Errorf("cron web: %d %q %q", code, out, errs)
	}
}
