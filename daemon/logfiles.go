package daemon

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// logFiles follows the log files conmon writes for containers with
// Podman's k8s-file log driver, all of them from one goroutine woken by
// inotify. Following each container over its own connection to Podman
// costs a goroutine, a connection and its buffers per running app in the
// daemon (and as much again in Podman's service); a watched file costs an
// open file and a few hundred bytes.
//
// A line is handed on as conmon wrote it: each record, a partial one
// included, is one line, as Podman's log stream gives it.
type logFiles struct {
	emit func(f *followedLog, text string)
	// inotify is the instance's descriptor, fd its number (the File's
	// Fd method would make it blocking); closing it ends run.
	inotify *os.File
	fd      int

	mu      sync.Mutex
	byWatch map[int32]*followedLog
	byID    map[string]*followedLog
	buf     []byte // reads, used by run alone
}

// followedLog is one container's log file and how far it has been read.
type followedLog struct {
	id, app, typ, name string
	path               string
	f                  *os.File
	wd                 int32
	off                int64
	rest               []byte // an unfinished record at the end of the last read
}

// newLogFiles starts an inotify instance; run reads its events.
func newLogFiles(emit func(f *followedLog, text string)) (*logFiles, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	// Non-blocking, the descriptor goes through Go's poller: a read parks
	// the goroutine instead of holding a thread, and Close wakes it.
	return &logFiles{emit: emit, inotify: os.NewFile(uintptr(fd), "inotify"), fd: fd,
		byWatch: map[int32]*followedLog{}, byID: map[string]*followedLog{}, buf: make([]byte, 16<<10)}, nil
}

// follow starts reading a container's log file at path from its first
// record written at since or later. A container already followed (it
// restarted: conmon appends to the same file) keeps its place.
func (lf *logFiles) follow(id, app, typ, name, path string, since time.Time) error {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	if _, ok := lf.byID[id]; ok {
		return nil
	}
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("follow log of %s: %w", name, err)
	}
	off, err := recordsSince(f, since)
	if err != nil {
		f.Close()
		return fmt.Errorf("follow log of %s: %w", name, err)
	}
	wd, err := unix.InotifyAddWatch(lf.fd, path, unix.IN_MODIFY|unix.IN_ATTRIB)
	if err != nil {
		f.Close()
		return fmt.Errorf("follow log of %s: inotify: %w", name, err)
	}
	fl := &followedLog{id: id, app: app, typ: typ, name: name, path: path, f: f, wd: int32(wd), off: off}
	lf.byWatch[fl.wd], lf.byID[id] = fl, fl
	// What was written before the watch was added has no event of its own.
	lf.readLocked(fl)
	return nil
}

// recordsSince returns the offset of the first record of f stamped at
// since or later, searching back from the end: a long-running container's
// file may be large.
func recordsSince(f *os.File, since time.Time) (int64, error) {
	st, err := f.Stat()
	if err != nil {
		return 0, err
	}
	size := st.Size()
	var start int64
	for span := int64(64 << 10); ; span *= 4 {
		start = max(0, size-span)
		if start == 0 {
			break
		}
		// Is the first whole record after start already too recent?
		b := make([]byte, 64)
		n, err := f.ReadAt(b, start)
		if err != nil && !errors.Is(err, io.EOF) {
			return 0, err
		}
		b = b[:n]
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			continue
		}
		if t, ok := recordTime(b[i+1:]); ok && t.Before(since) {
			break
		}
	}
	// Skip the records older than since from start on.
	r := io.NewSectionReader(f, start, size-start)
	b, err := io.ReadAll(r)
	if err != nil {
		return 0, err
	}
	pos := 0
	if start > 0 { // start is inside a record: begin at the next one
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return size, nil
		}
		pos = i + 1
	}
	for pos < len(b) {
		i := bytes.IndexByte(b[pos:], '\n')
		if i < 0 {
			break
		}
		if t, ok := recordTime(b[pos : pos+i]); ok && !t.Before(since) {
			break
		}
		pos += i + 1
	}
	return start + int64(pos), nil
}

// recordTime is the timestamp a k8s-file record starts with.
func recordTime(rec []byte) (time.Time, bool) {
	ts, _, ok := bytes.Cut(rec, []byte(" "))
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, string(ts))
	return t, err == nil
}

// recordText is what a k8s-file record ("TIME STREAM TAG TEXT", TAG F for
// a full line and P for part of one) carries.
func recordText(rec []byte) (string, bool) {
	parts := bytes.SplitN(rec, []byte(" "), 4)
	if len(parts) < 3 {
		return "", false
	}
	if len(parts) == 3 {
		return "", true // an empty line
	}
	return string(parts[3]), true
}

// readLocked hands on the whole records written since the last read, and
// starts over from the top of a file that was truncated. The caller holds
// lf.mu.
func (lf *logFiles) readLocked(fl *followedLog) {
	if st, err := fl.f.Stat(); err == nil && st.Size() < fl.off {
		fl.off, fl.rest = 0, nil
	}
	for {
		n, err := fl.f.ReadAt(lf.buf, fl.off)
		fl.off += int64(n)
		data := lf.buf[:n]
		for len(data) > 0 {
			i := bytes.IndexByte(data, '\n')
			if i < 0 {
				// A record cut by the read: keep it for the next, within
				// bounds (conmon's records are a few KB).
				if len(fl.rest)+len(data) <= maxLogFrame {
					fl.rest = append(fl.rest, data...)
				} else {
					fl.rest = nil
				}
				break
			}
			rec := data[:i]
			if len(fl.rest) > 0 {
				rec = append(fl.rest, rec...)
				fl.rest = nil
			}
			if text, ok := recordText(rec); ok {
				lf.emit(fl, text)
			}
			data = data[i+1:]
		}
		if err != nil || n < len(lf.buf) {
			return
		}
	}
}

// maxLogFrame bounds an unfinished record kept between reads.
const maxLogFrame = 1 << 20

// dropLocked stops following fl. The caller holds lf.mu.
func (lf *logFiles) dropLocked(fl *followedLog) {
	delete(lf.byWatch, fl.wd)
	delete(lf.byID, fl.id)
	// Fails harmlessly when the kernel already dropped the watch (the
	// file is gone).
	_, _ = unix.InotifyRmWatch(lf.fd, uint32(fl.wd))
	fl.f.Close()
}

// run reads inotify events until ctx ends: a file written to is read, and
// a file unlinked (its container removed) is read to its end and let go.
func (lf *logFiles) run(ctx context.Context) {
	defer context.AfterFunc(ctx, func() { lf.inotify.Close() })()
	defer lf.closeAll()
	buf := make([]byte, 4096)
	for {
		n, err := lf.inotify.Read(buf)
		if err != nil {
			return // closed: ctx ended
		}
		lf.mu.Lock()
		for off := 0; off+unix.SizeofInotifyEvent <= n; {
			ev := (*unix.InotifyEvent)(unsafe.Pointer(&buf[off]))
			off += unix.SizeofInotifyEvent + int(ev.Len)
			if ev.Mask&unix.IN_Q_OVERFLOW != 0 {
				for _, fl := range lf.byID {
					lf.readLocked(fl)
				}
				continue
			}
			fl, ok := lf.byWatch[ev.Wd]
			if !ok {
				continue
			}
			if ev.Mask&unix.IN_IGNORED != 0 {
				lf.readLocked(fl)
				lf.dropLocked(fl)
				continue
			}
			lf.readLocked(fl)
			if ev.Mask&unix.IN_ATTRIB != 0 {
				if st, err := fl.f.Stat(); err == nil {
					if sys, ok := st.Sys().(*syscall.Stat_t); ok && sys.Nlink == 0 {
						lf.reopenLocked(fl)
					}
				}
			}
		}
		lf.mu.Unlock()
	}
}

// reopenLocked follows the file now at fl's path from its top, when one
// took the place of the unlinked file fl had open (conmon rotates a log
// that reached its containers.conf log_size_max so), and lets fl go when
// none did (its container was removed). The caller holds lf.mu.
func (lf *logFiles) reopenLocked(fl *followedLog) {
	f, err := os.Open(fl.path)
	if err != nil {
		lf.dropLocked(fl)
		return
	}
	wd, err := unix.InotifyAddWatch(lf.fd, fl.path, unix.IN_MODIFY|unix.IN_ATTRIB)
	if err != nil {
		f.Close()
		lf.dropLocked(fl)
		return
	}
	delete(lf.byWatch, fl.wd)
	_, _ = unix.InotifyRmWatch(lf.fd, uint32(fl.wd))
	fl.f.Close()
	fl.f, fl.wd, fl.off, fl.rest = f, int32(wd), 0, nil
	lf.byWatch[fl.wd] = fl
	lf.readLocked(fl)
}

func (lf *logFiles) closeAll() {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	for _, fl := range lf.byID {
		fl.f.Close()
	}
	clear(lf.byID)
	clear(lf.byWatch)
}

// followed reports whether the container's file is being followed.
func (lf *logFiles) followed(id string) bool {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	_, ok := lf.byID[id]
	return ok
}
