package client

import "strings"

// Quote joins words into one command line that the daemon's SSH door
// (gitreceive.SplitCommand, a POSIX shell's word splitting without
// expansion) splits back into the same words: ssh sends a single line, so
// each word is quoted once here and never by the user.
func Quote(words []string) string {
	var b strings.Builder
	for i, w := range words {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(quoteWord(w))
	}
	return b.String()
}

func quoteWord(w string) string {
	if w == "" {
		return "''"
	}
	if strings.IndexFunc(w, unsafe) < 0 {
		return w
	}
	// Single quotes keep everything literal; a single quote itself ends
	// the quoted part, is escaped, and a new one starts.
	return "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
}

// unsafe reports a rune that needs quoting.
func unsafe(r rune) bool {
	switch {
	case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		return false
	}
	return !strings.ContainsRune("@%+=:,./_-", r)
}
