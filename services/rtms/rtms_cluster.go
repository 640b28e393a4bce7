package rtms

import "time"

// RTMSClaims decides, across the instances of a cluster, which one assigns
// each stream: every instance hears every RTMS event (relayed), and only
// the instance holding a stream's claim offers it to its workers. A claim
// is a lease the holder renews; an instance that dies stops renewing, and
// another claims the stream. internal/redis implements it (SET NX PX).
type RTMSClaims interface {
	// Claim reports whether this instance holds the stream's claim now
	// (taken, or already its own).
	Claim(streamID string) bool
	// Renew extends the claims this instance holds.
	Renew(streamIDs []string)
	// Release gives a claim up.
	Release(streamID string)
}

// claimThenPump is pump's step for a stream not claimed yet: the claim is
// asked outside the lock, with w's room reserved meanwhile. r.mu held.
func (r *RTMS) claimThenPump(st *rtmsStream, w *rtmsWorker) func() {
	st.claiming = true
	w.load++
	id := st.view.StreamID
	return func() {
		ok := r.cfg.Claims.Claim(id)
		r.mu.Lock()
		st.claiming = false
		w.load--
		var sends rtmsSends
		switch {
		case r.streams[id] != st || st.view.State == RTMSStopped:
			if ok {
				sends = append(sends, func() { r.cfg.Claims.Release(id) })
			}
		case ok:
			st.claimed = true
			sends = r.pump()
		default:
			st.elsewhere = true
		}
		r.count()
		r.mu.Unlock()
		sends.run()
	}
}

// letGo gives up the claim of a pending stream no worker here can take, so
// that another instance may. r.mu held.
func (r *RTMS) letGo(st *rtmsStream) rtmsSends {
	if r.cfg.Claims == nil || !st.claimed || st.view.State != RTMSPending || st.offered != nil || st.waiting || st.claiming {
		return nil
	}
	st.claimed, st.elsewhere = false, true
	id := st.view.StreamID
	return rtmsSends{func() { r.cfg.Claims.Release(id) }}
}

// tend, every ClaimRetry: renews this instance's claims, and tries again
// the streams claimed elsewhere (their instance may have died).
func (r *RTMS) tend() {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.ClaimRetry)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		r.mu.Lock()
		var held []string
		for id, st := range r.streams {
			if st.claimed && st.view.State != RTMSStopped {
				held = append(held, id)
			}
			st.elsewhere = false
		}
		sends := r.pump()
		for _, st := range r.streams {
			sends = append(sends, r.letGo(st)...)
		}
		r.count()
		r.mu.Unlock()
		if len(held) > 0 {
			r.cfg.Claims.Renew(held)
		}
		sends.run()
	}
}
