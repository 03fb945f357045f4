package gitreceive

import (
	"fmt"
	"strings"
	"testing"
)

func TestCommandAttrs(t *testing.T) {
	for _, tt := range []struct {
		line string
		want string // attrs as key=value pairs
		// secret must not appear in the attrs.
		secret string
	}{
		{"config:set app SECRET=hunter2 OTHER='two words'", "command=config:set app=app vars=SECRET OTHER", "hunter2"},
		{"config:set --encoded app K=aHVudGVyMg==", "command=config:set app=app flags=--encoded vars=K", "aHVudGVyMg"},
		{"run app psql postgres://u:hunter2@db/x", "command=run app=app other_args=2", "hunter2"},
		{"run app env FOO=hunter2 cmd", "command=run app=app vars=FOO other_args=2", "hunter2"},
		{"apps:destroy app --force", "command=apps:destroy app=app flags=--force", ""},
		{"tokens:create ci --scope deploy", "command=tokens:create app=ci flags=--scope other_args=1", ""},
		{"apps:list --json", "command=apps:list flags=--json", ""},
		{"git:sync app https://u:hunter2@example.com/r.git", "command=git:sync app=app other_args=1", "hunter2"},
		{"SECRET=hunter2", "command=?", "hunter2"},
		{"hunter2", "command=hunter2", ""}, // the name is logged, whatever it is
		{"config:get Not_An_App KEY", "command=config:get other_args=2", ""},
		{"git-receive-pack '/shop.git'", "command=git-receive-pack app=shop", ""},
		{"git upload-pack 'shop.git'", "command=git-upload-pack app=shop", ""},
		{"git-receive-pack '/Hunter2.git'", "command=git-receive-pack other_args=1", "Hunter2"},
	} {
		words, err := SplitCommand(tt.line)
		if err != nil {
			t.Fatal(err)
		}
		cmd, _ := ParseCommand(words)
		attrs := commandAttrs(words, cmd)
		var pairs []string
		for i := 0; i+1 < len(attrs); i += 2 {
			pairs = append(pairs, fmt.Sprintf("%v=%v", attrs[i], attrs[i+1]))
		}
		got := strings.Join(pairs, " ")
		if got != tt.want {
			t.Errorf("commandAttrs(%q) = %q, want %q", tt.line, got, tt.want)
		}
		if tt.secret != "" && strings.Contains(got, tt.secret) {
			t.Errorf("commandAttrs(%q) leaks %q: %s", tt.line, tt.secret, got)
		}
	}
	if attrs := commandAttrs(nil, Command{}); attrs != nil {
		t.Errorf("commandAttrs(nil) = %v", attrs)
	}
}
