package gitreceive

import (
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestParseCommand(t *testing.T) {
	long := "a" + strings.Repeat("b", 63) // 64 characters
	tests := []struct {
		raw     []string
		want    Command
		wantErr error
	}{
		{[]string{"git-receive-pack", "/hello.git"}, Command{Kind: Receive, App: "hello"}, nil},
		{[]string{"git-receive-pack", "hello.git"}, Command{Kind: Receive, App: "hello"}, nil},
		{[]string{"git-receive-pack", "hello"}, Command{Kind: Receive, App: "hello"}, nil},
		{[]string{"git", "receive-pack", "hello"}, Command{Kind: Receive, App: "hello"}, nil},
		{[]string{"git-upload-pack", "/hello.git"}, Command{Kind: Upload, App: "hello"}, nil},
		{[]string{"git", "upload-pack", "'hello.git'"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "/my-app-2.git"}, Command{Kind: Receive, App: "my-app-2"}, nil},
		{[]string{"git-receive-pack", long[:63]}, Command{Kind: Receive, App: long[:63]}, nil},
		{[]string{"git-receive-pack", long}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "../x"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "/../x.git"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "Hello"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "a;b"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "a/b"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "//a.git"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "1app"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", ""}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", ".git"}, Command{}, ErrInvalidAppName},
		// App names are DNS labels: no trailing '-'.
		{[]string{"git-receive-pack", "app-"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "/my-app-.git"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", long[:62] + "-"}, Command{}, ErrInvalidAppName},
		{[]string{"git-receive-pack", "a"}, Command{Kind: Receive, App: "a"}, nil},
		{[]string{"git-receive-pack", "a--1"}, Command{Kind: Receive, App: "a--1"}, nil},
		{[]string{"git-receive-pack"}, Command{}, ErrUnsupportedGitCommand},
		{[]string{"git-receive-pack", "a", "b"}, Command{}, ErrUnsupportedGitCommand},
		{[]string{"git-upload-archive", "hello"}, Command{}, ErrUnsupportedGitCommand},
		{[]string{"git"}, Command{}, ErrUnsupportedGitCommand},
		{nil, Command{}, ErrEmptyCommand},
		{[]string{}, Command{}, ErrEmptyCommand},
		{[]string{"apps:list", "--json"}, Command{Kind: Admin, Args: []string{"apps:list", "--json"}}, nil},
		{[]string{"help"}, Command{Kind: Admin, Args: []string{"help"}}, nil},
	}
	for _, tt := range tests {
		got, err := ParseCommand(tt.raw)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("ParseCommand(%q) error = %v, want %v", tt.raw, err, tt.wantErr)
			continue
		}
		if got.Kind != tt.want.Kind || got.App != tt.want.App || !slices.Equal(got.Args, tt.want.Args) {
			t.Errorf("ParseCommand(%q) = %+v, want %+v", tt.raw, got, tt.want)
		}
	}
}

func TestParseCommandErrorMessage(t *testing.T) {
	_, err := ParseCommand([]string{"git-receive-pack", "/Hello.git"})
	want := `invalid app name "Hello": must match ^[a-z]([a-z0-9-]{0,61}[a-z0-9])?$`
	if err == nil || err.Error() != want {
		t.Fatalf("error = %v, want %q", err, want)
	}
}

func TestParseCommandCopiesArgs(t *testing.T) {
	raw := []string{"apps:list"}
	c, _ := ParseCommand(raw)
	raw[0] = "changed"
	if c.Args[0] != "apps:list" {
		t.Fatal("ParseCommand shares the caller's slice")
	}
}

func TestCanPush(t *testing.T) {
	admin := Identity{Name: "root", Admin: true}
	dev := Identity{Name: "dev", Apps: []string{"blog", "shop"}}
	for _, tt := range []struct {
		id   Identity
		app  string
		want bool
	}{
		{admin, "anything", true},
		{dev, "blog", true},
		{dev, "shop", true},
		{dev, "other", false},
		{Identity{}, "blog", false},
	} {
		if got := tt.id.CanPush(tt.app); got != tt.want {
			t.Errorf("%s.CanPush(%q) = %v, want %v", tt.id.Name, tt.app, got, tt.want)
		}
	}
}

func TestRepoDir(t *testing.T) {
	if got, want := RepoDir("/var/lib/xcloud/repos", "hello"), "/var/lib/xcloud/repos/hello.git"; got != want {
		t.Fatalf("RepoDir = %q, want %q", got, want)
	}
}

// FuzzParseCommand feeds NUL-separated argument lists to ParseCommand.
func FuzzParseCommand(f *testing.F) {
	for _, seed := range []string{
		"git-receive-pack\x00/hello.git",
		"git-receive-pack\x00hello.git",
		"git\x00receive-pack\x00hello",
		"git-upload-pack\x00/hello.git",
		"git-receive-pack\x00../x",
		"git-receive-pack\x00a/b",
		"git-receive-pack\x00/.git",
		"apps:list\x00--json",
		"git",
		"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var raw []string
		if in != "" {
			raw = strings.Split(in, "\x00")
		}
		c, err := ParseCommand(raw)
		if err != nil {
			if c.Kind != 0 || c.App != "" || c.Args != nil {
				t.Fatalf("error %v with non-zero command %+v", err, c)
			}
			return
		}
		switch c.Kind {
		case Receive, Upload:
			if !ValidAppName(c.App) {
				t.Fatalf("invalid app %q accepted", c.App)
			}
			dir := RepoDir("/repos", c.App)
			if filepath.Dir(dir) != "/repos" || !strings.HasSuffix(dir, ".git") {
				t.Fatalf("app %q escapes the repos dir: %s", c.App, dir)
			}
			if c.Args != nil {
				t.Fatalf("git command with args %q", c.Args)
			}
		case Admin:
			if !slices.Equal(c.Args, raw) || len(raw) == 0 {
				t.Fatalf("admin args %q, want %q", c.Args, raw)
			}
			if raw[0] == "git" || strings.HasPrefix(raw[0], "git-") {
				t.Fatalf("git command %q treated as admin", raw)
			}
		default:
			t.Fatalf("unknown kind %v", c.Kind)
		}
	})
}
