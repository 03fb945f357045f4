package gitreceive

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// TestDoorCipher: OpenSSH with its default settings gets AES-GCM from the
// door where the CPU accelerates AES (it would pick chacha20-poly1305, the
// slowest in Go, if it were offered), and a client that speaks only
// chacha20-poly1305 is refused there.
func TestDoorCipher(t *testing.T) {
	e := startEnv(t)
	args := append(strings.Fields(e.sshCommand("admin")), "-v", "xcloud@127.0.0.1", "ls")
	// The fake commander's exit status does not matter: the log does.
	out, _ := exec.Command(args[0], args[1:]...).CombinedOutput()
	var got string
	for _, line := range strings.Split(string(out), "\n") {
		if _, after, ok := strings.Cut(line, "kex: server->client cipher: "); ok {
			got, _, _ = strings.Cut(after, " ")
		}
	}
	if !hasAESGCM() {
		t.Logf("no AES-GCM instructions: the library's defaults, OpenSSH picked %s", got)
		return
	}
	if got != gossh.CipherAES128GCM {
		t.Fatalf("OpenSSH's default choice: %q, want %s\n%s", got, gossh.CipherAES128GCM, out)
	}
	_, err := gossh.Dial("tcp", e.srv.Addr().String(), &gossh.ClientConfig{
		User:            "xcloud",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(e.signer("admin"))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
		Config:          gossh.Config{Ciphers: []string{gossh.CipherChaCha20Poly1305}},
	})
	if err == nil || !strings.Contains(err.Error(), "no common algorithm") {
		t.Fatalf("a chacha20-poly1305-only client: %v, want no common algorithm", err)
	}
}
