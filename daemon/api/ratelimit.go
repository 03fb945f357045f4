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
