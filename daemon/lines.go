package daemon

import "bytes"

// defaultMaxLine bounds a LineWriter's unfinished line.
const defaultMaxLine = 64 << 10

// LineWriter calls Emit once per line written to it, without the newline
// or a trailing carriage return. A line longer than MaxLine (default 64
// KiB) is emitted in pieces, so output that never ends a line cannot grow
// the buffer. Flush emits what is left of an unfinished line. Build and
// deploy output, logs and cron runs all pass through one, whichever door
// shows them.
type LineWriter struct {
	Emit    func(line string) error
	MaxLine int

	partial []byte
}

func (l *LineWriter) Write(p []byte) (int, error) {
	n := len(p)
	max := l.MaxLine
	if max <= 0 {
		max = defaultMaxLine
	}
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			l.partial = append(l.partial, p...)
			if len(l.partial) >= max {
				if err := l.Flush(); err != nil {
					return 0, err
				}
			}
			return n, nil
		}
		line := append(l.partial, p[:i]...)
		l.partial = l.partial[:0]
		p = p[i+1:]
		if err := l.Emit(string(bytes.TrimSuffix(line, []byte("\r")))); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// Flush emits the unfinished line, if any.
func (l *LineWriter) Flush() error {
	if len(l.partial) == 0 {
		return nil
	}
	line := string(l.partial)
	l.partial = l.partial[:0]
	return l.Emit(line)
}
