package api

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// buckets is a token bucket per key (an IP or a token's name). Keys not
// seen for idleAfter are forgotten, so the map stays as small as the set
// of recent callers.
type buckets struct {
	limit rate.Limit
	burst int
	now   func() time.Time

	mu        sync.Mutex
	m         map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

const idleAfter = 10 * time.Minute

func newBuckets(perSecond float64, burst int, now func() time.Time) *buckets {
	return &buckets{limit: rate.Limit(perSecond), burst: burst, now: now, m: map[string]*bucket{}}
}

// take spends one request of key's bucket. When it is empty it returns
// false and how long until a request would be allowed.
func (b *buckets) take(key string) (bool, time.Duration) {
	if b == nil || b.limit <= 0 {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.Sub(b.lastSweep) > idleAfter {
		b.lastSweep = now
		for k, v := range b.m {
			if now.Sub(v.seen) > idleAfter {
				delete(b.m, k)
			}
		}
	}
	bk := b.m[key]
	if bk == nil {
		bk = &bucket{lim: rate.NewLimiter(b.limit, b.burst)}
		b.m[key] = bk
	}
	bk.seen = now
	r := bk.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// failures counts failed sign-ins per IP, as the SSH door counts failed
// logins: max within window bans the IP for ban.
type failures struct {
	max    int
	window time.Duration
	ban    time.Duration
	now    func() time.Time

	mu        sync.Mutex
	ips       map[string]*ipFailures
	lastSweep time.Time
}

type ipFailures struct {
	times       []time.Time // within the window, oldest first
	bannedUntil time.Time
}

// newFailures returns nil (no limit) when max <= 0.
func newFailures(max int, window, ban time.Duration, now func() time.Time) *failures {
	if max <= 0 {
		return nil
	}
	return &failures{max: max, window: window, ban: ban, now: now, ips: map[string]*ipFailures{}}
}

// banned reports how long ip is still banned (0: it is not).
func (f *failures) banned(ip string) time.Duration {
	if f == nil {
		return 0
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if e := f.ips[ip]; e != nil {
		if d := e.bannedUntil.Sub(f.now()); d > 0 {
			return d
		}
	}
	return 0
}

// failed records a failed sign-in from ip; true when it started a ban.
func (f *failures) failed(ip string) bool {
	if f == nil {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := f.now()
	if now.Sub(f.lastSweep) > f.window {
		f.lastSweep = now
		for k, e := range f.ips {
			e.prune(now, f.window)
			if len(e.times) == 0 && !now.Before(e.bannedUntil) {
				delete(f.ips, k)
			}
		}
	}
	e := f.ips[ip]
	if e == nil {
		e = &ipFailures{}
		f.ips[ip] = e
	}
	e.prune(now, f.window)
	e.times = append(e.times, now)
	if len(e.times) >= f.max && !now.Before(e.bannedUntil) {
		e.bannedUntil = now.Add(f.ban)
		e.times = nil
		return true
	}
	return false
}

func (e *ipFailures) prune(now time.Time, window time.Duration) {
	i := 0
	for i < len(e.times) && now.Sub(e.times[i]) >= window {
		i++
	}
	e.times = e.times[i:]
}

// streams counts open event streams per principal and in all, so long-lived
// connections are bounded like requests are.
type streams struct {
	perKey, total int

	mu sync.Mutex
	n  map[string]int
	t  int
}

func newStreams(perKey, total int) *streams {
	return &streams{perKey: perKey, total: total, n: map[string]int{}}
}

// open takes a stream slot for key; the caller calls the returned func
// when the stream ends. ok is false when key or the daemon has no slot.
func (s *streams) open(key string) (release func(), ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] >= s.perKey || s.t >= s.total {
		return nil, false
	}
	s.n[key]++
	s.t++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.t--
			if s.n[key]--; s.n[key] <= 0 {
				delete(s.n, key)
			}
		})
	}, true
}
