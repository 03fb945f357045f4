package gitreceive

import (
	"runtime"

	gossh "golang.org/x/crypto/ssh"
	"golang.org/x/sys/cpu"
)

// gcmCiphers are the only ciphers the door offers on a CPU with AES and
// carry-less multiply instructions. The client picks from the server's
// list in its own order, and OpenSSH's default order starts with
// chacha20-poly1305, then aes-ctr: offering either makes OpenSSH pick it.
// Go has no assembly for chacha20 on amd64, so a `backup` over the door
// with it cost 2 s of the daemon's CPU per GB against 0.7 s with
// AES-GCM (bench/README.md); aes-ctr with its separate MAC sits between.
// AES-GCM is an AEAD as chacha20-poly1305 is; every OpenSSH since 6.2,
// PuTTY since 0.76, Go's and Java's SSH libraries speak it.
var gcmCiphers = []string{gossh.CipherAES128GCM, gossh.CipherAES256GCM}

// doorCiphers returns the ciphers the door offers: AES-GCM alone where the
// CPU accelerates it, else nil (the library's defaults, chacha20-poly1305
// among them, faster than software AES).
func doorCiphers() []string {
	if hasAESGCM() {
		return gcmCiphers
	}
	return nil
}

func hasAESGCM() bool {
	switch runtime.GOARCH {
	case "amd64", "386":
		return cpu.X86.HasAES && cpu.X86.HasPCLMULQDQ
	case "arm64":
		return cpu.ARM64.HasAES && cpu.ARM64.HasPMULL
	case "s390x":
		return cpu.S390X.HasAES && cpu.S390X.HasAESGCM
	}
	return false
}
