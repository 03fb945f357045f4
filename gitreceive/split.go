package gitreceive

import (
	"errors"
	"fmt"
	"strings"
)

// MaxCommandLength is the longest command line a session accepts, in bytes.
// Real commands are far shorter; the cap bounds the work a logged-in key
// can make the daemon do before its permissions are checked.
const MaxCommandLength = 64 << 10

var (
	// ErrCommandTooLong is returned by SplitCommand for a command line
	// longer than MaxCommandLength.
	ErrCommandTooLong = errors.New("command line too long")
	// ErrUnterminatedQuote is returned by SplitCommand when a quote is not
	// closed, or the line ends in a lone backslash.
	ErrUnterminatedQuote = errors.New("unterminated quote")
)

// SplitCommand splits an SSH command line into words the way a POSIX shell
// does, without any expansion: single quotes keep everything literal;
// inside double quotes a backslash escapes only \ " $ ` and newline;
// outside quotes a backslash escapes any character. Words are separated by
// ASCII whitespace; a pair of empty quotes is an empty word. It runs in
// linear time.
func SplitCommand(line string) ([]string, error) {
	if len(line) > MaxCommandLength {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrCommandTooLong, len(line), MaxCommandLength)
	}
	var (
		words  []string
		word   strings.Builder
		inWord bool
	)
	for i := 0; i < len(line); i++ {
		switch c := line[i]; c {
		case ' ', '\t', '\n', '\r', '\v', '\f':
			if inWord {
				words = append(words, word.String())
				word.Reset()
				inWord = false
			}
		case '\'':
			end := strings.IndexByte(line[i+1:], '\'')
			if end < 0 {
				return nil, fmt.Errorf("%w: a ' is not closed", ErrUnterminatedQuote)
			}
			word.WriteString(line[i+1 : i+1+end])
			i += end + 1
			inWord = true
		case '"':
			closed := false
			for i++; i < len(line); i++ {
				c := line[i]
				if c == '"' {
					closed = true
					break
				}
				if c == '\\' && i+1 < len(line) {
					switch line[i+1] {
					case '\\', '"', '$', '`':
						word.WriteByte(line[i+1])
						i++
						continue
					case '\n':
						i++
						continue
					}
				}
				word.WriteByte(c)
			}
			if !closed {
				return nil, fmt.Errorf("%w: a \" is not closed", ErrUnterminatedQuote)
			}
			inWord = true
		case '\\':
			if i+1 == len(line) {
				return nil, fmt.Errorf("%w: the line ends in a backslash", ErrUnterminatedQuote)
			}
			i++
			if line[i] == '\n' { // a line continuation joins words
				continue
			}
			word.WriteByte(line[i])
			inWord = true
		default:
			word.WriteByte(c)
			inWord = true
		}
	}
	if inWord {
		words = append(words, word.String())
	}
	return words, nil
}
