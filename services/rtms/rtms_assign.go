package rtms

import (
	"sort"
	"time"

	"github.com/zoomtoken/tokenserver/internal/apperr"
	"github.com/zoomtoken/tokenserver/internal/webhooks"
)

// started takes an rtms_started (or an rtms_interrupted, reason
// "interrupted"). A stream not known, or stopped, is new and pending; one
// held goes to its holder as a reconnect (Zoom's failover: same holder, no
// new assignment); one pending keeps waiting, with the new URLs. r.mu held.
func (r *RTMS) started(ev webhooks.RTMS, reason string) rtmsSends {
	st, ok := r.streams[ev.StreamID]
	if ok && st.view.State != RTMSStopped {
		st.serverURLs = ev.ServerURLs
		switch {
		case st.holder != nil:
			w, rc := st.holder, RTMSReconnect{StreamID: ev.StreamID, ServerURLs: ev.ServerURLs,
				Signature: r.sign(st.meetingOrSession(), ev.StreamID), Reason: reason}
			return rtmsSends{func() { w.conn.Reconnect(rc) }}
		case st.offered != nil:
			st.reconnect = reason // sent once the offer is acked
		}
		return nil
	}
	now := r.cfg.Now()
	r.streams[ev.StreamID] = &rtmsStream{view: RTMSStream{StreamID: ev.StreamID, Product: RTMSProduct(ev.Product),
		MeetingUUID: ev.MeetingUUID, SessionID: ev.SessionID, MeetingID: ev.MeetingID, State: RTMSPending, StartedAt: now},
		serverURLs: ev.ServerURLs, pendingSince: now, tried: map[*rtmsWorker]bool{}}
	if !ev.Relayed {
		r.watchUnassigned(r.streams[ev.StreamID])
	}
	return nil
}

// stopped ends a stream: its holder, and a worker it is offered to, get
// rtms:stopped. r.mu held.
func (r *RTMS) stopped(ev webhooks.RTMS) rtmsSends {
	st, ok := r.streams[ev.StreamID]
	if !ok || st.view.State == RTMSStopped {
		return nil
	}
	reason := ev.StopReason
	if reason == "" {
		reason = "stopped"
	}
	var sends rtmsSends
	msg := RTMSStop{StreamID: ev.StreamID, Reason: reason}
	for _, w := range []*rtmsWorker{st.holder, st.offered} {
		if w != nil {
			w.load--
			if !w.gone {
				sends = append(sends, func() { w.conn.Stopped(msg) })
			}
		}
	}
	r.stopTimer(st)
	st.stopUnassigned()
	if st.claimed {
		st.claimed = false
		id := st.view.StreamID
		sends = append(sends, func() { r.cfg.Claims.Release(id) })
	}
	now := r.cfg.Now()
	st.holder, st.offered, st.waiting = nil, nil, false
	st.view.State, st.view.StoppedAt, st.view.StopReason = RTMSStopped, &now, reason
	return sends
}

func (r *RTMS) stopTimer(st *rtmsStream) {
	if st.timer != nil {
		st.timer.Stop()
		st.timer = nil
	}
}

// pump offers each pending stream, oldest first, to the worker with the
// most room that has not failed it, while any has room. r.mu held.
func (r *RTMS) pump() rtmsSends {
	var todo []*rtmsStream
	for _, st := range r.streams {
		if st.view.State == RTMSPending && st.offered == nil && !st.waiting && !st.claiming && !st.elsewhere {
			todo = append(todo, st)
		}
	}
	if len(todo) == 0 {
		return nil
	}
	sort.Slice(todo, func(i, j int) bool { return todo[i].pendingSince.Before(todo[j].pendingSince) })
	var sends rtmsSends
	for _, st := range todo {
		w := r.pick(st)
		switch {
		case w == nil:
		case r.cfg.Claims != nil && !st.claimed:
			sends = append(sends, r.claimThenPump(st, w))
		default:
			sends = append(sends, r.offerTo(st, w))
		}
	}
	return sends
}

// pick is the worker with the lowest share of its capacity in use (then the
// most room, then the lowest id) that has room and has not failed st.
func (r *RTMS) pick(st *rtmsStream) *rtmsWorker {
	var best *rtmsWorker
	for _, w := range r.workers {
		if w.gone || w.load >= w.capacity || st.tried[w] {
			continue
		}
		if best == nil || lessLoaded(w, best) {
			best = w
		}
	}
	return best
}

func lessLoaded(a, b *rtmsWorker) bool {
	// a.load/a.capacity < b.load/b.capacity, without division
	if l, r := a.load*b.capacity, b.load*a.capacity; l != r {
		return l < r
	}
	if fa, fb := a.capacity-a.load, b.capacity-b.load; fa != fb {
		return fa > fb
	}
	return a.conn.WorkerID() < b.conn.WorkerID()
}

// offerTo sends st to w and starts the ack's timeout. r.mu held.
func (r *RTMS) offerTo(st *rtmsStream, w *rtmsWorker) func() {
	st.offer++
	st.offered = w
	w.load++
	n, id := st.offer, st.view.StreamID
	st.timer = time.AfterFunc(r.cfg.AckTimeout, func() { r.ackTimedOut(id, n) })
	a := RTMSAssignment{StreamID: id, Product: st.view.Product, MeetingUUID: st.view.MeetingUUID,
		SessionID: st.view.SessionID, MeetingID: st.view.MeetingID, ServerURLs: st.serverURLs, ClientID: r.cfg.ClientID,
		Signature: r.sign(st.meetingOrSession(), id)}
	return func() { w.conn.Assign(a, func() { r.acked(id, w, n) }) }
}

// acked makes w the holder of the stream offered as offer n. An ack that
// comes after the offer timed out (another worker was chosen, or the stream
// stopped) tells w to let the stream go; a second ack changes nothing.
func (r *RTMS) acked(streamID string, w *rtmsWorker, n int) {
	var sends rtmsSends
	r.mu.Lock()
	st, ok := r.streams[streamID]
	switch {
	case ok && st.offered == w && st.offer == n:
		r.stopTimer(st)
		st.stopUnassigned()
		now := r.cfg.Now()
		st.holder, st.offered = w, nil
		st.view.State, st.view.AssignedAt = RTMSAssigned, &now
		st.view.Worker, st.view.WorkerSub = w.conn.WorkerID(), w.conn.Subject()
		r.cfg.Observer.RTMSAssigned(now.Sub(st.pendingSince))
		if reason := st.reconnect; reason != "" {
			st.reconnect = ""
			rc := RTMSReconnect{StreamID: streamID, ServerURLs: st.serverURLs, Signature: r.sign(st.meetingOrSession(), streamID), Reason: reason}
			sends = append(sends, func() { w.conn.Reconnect(rc) })
		}
	case ok && st.holder == w:
	case !w.gone:
		msg := RTMSStop{StreamID: streamID, Reason: "assign_timeout"}
		sends = append(sends, func() { w.conn.Stopped(msg) })
	}
	r.count()
	r.mu.Unlock()
	sends.run()
}

// ackTimedOut gives the stream of offer n to another worker: its worker
// did not ack within AckTimeout.
func (r *RTMS) ackTimedOut(streamID string, n int) {
	r.mu.Lock()
	st, ok := r.streams[streamID]
	if !ok || st.offered == nil || st.offer != n {
		r.mu.Unlock()
		return
	}
	w := st.offered
	w.load--
	st.tried[w] = true
	st.offered, st.timer = nil, nil
	r.log.Warn("rtms: a worker did not ack an assignment in time; trying another", "stream", streamID, "worker", w.conn.WorkerID())
	r.cfg.Observer.RTMSReassigned("ack_timeout")
	sends := r.pump()
	r.count()
	r.mu.Unlock()
	sends.run()
}

// Ready registers w (or changes its capacity) and hands it pending streams.
// resume names streams the worker still holds at Zoom from a socket it lost
// (a network blip): each one waiting for that lost holder, of the same
// identity, is its again at once, within its capacity.
func (r *RTMS) Ready(conn RTMSWorker, capacity int, resume []string) (RTMSReady, error) {
	if capacity < RTMSMinCapacity || capacity > RTMSMaxCapacity {
		return RTMSReady{}, apperr.InvalidInput("rtms ready",
			apperr.FieldError{Field: "capacity", Reason: "must be a whole number from 1 to 1000"})
	}
	r.mu.Lock()
	w, ok := r.workers[conn.WorkerID()]
	if !ok {
		w = &rtmsWorker{conn: conn}
		r.workers[conn.WorkerID()] = w
	}
	w.capacity = capacity
	resumed := r.resume(w, resume)
	holding := 0
	for _, st := range r.streams {
		if st.holder == w {
			holding++
		}
	}
	sends := r.pump()
	r.count()
	r.mu.Unlock()
	sends.run()
	return RTMSReady{Success: true, Capacity: capacity, Holding: holding, Resumed: resumed}, nil
}

// resume gives w the streams of ids that wait for a lost holder of w's
// identity. r.mu held.
func (r *RTMS) resume(w *rtmsWorker, ids []string) []string {
	resumed := []string{}
	for _, id := range ids {
		st, ok := r.streams[id]
		if !ok || !st.waiting || st.lostSub != w.conn.Subject() || w.load >= w.capacity {
			continue
		}
		r.stopTimer(st)
		now := r.cfg.Now()
		st.waiting, st.holder, st.lostSub = false, w, ""
		w.load++
		st.view.State, st.view.AssignedAt = RTMSAssigned, &now
		st.view.Worker, st.view.WorkerSub = w.conn.WorkerID(), w.conn.Subject()
		resumed = append(resumed, id)
	}
	return resumed
}

// Release lets a stream w holds go: it is offered to another worker.
func (r *RTMS) Release(conn RTMSWorker, streamID string) error {
	r.mu.Lock()
	w := r.workers[conn.WorkerID()]
	st, ok := r.streams[streamID]
	if w == nil || !ok || st.holder != w {
		r.mu.Unlock()
		return apperr.InvalidInput("rtms release", apperr.FieldError{Field: "streamId", Reason: "is not a stream this worker holds"})
	}
	w.load--
	st.tried[w] = true
	st.holder = nil
	st.pendingSince = r.cfg.Now()
	st.view.State, st.view.AssignedAt, st.view.Worker, st.view.WorkerSub = RTMSPending, nil, "", ""
	r.cfg.Observer.RTMSReassigned("released")
	sends := r.pump()
	r.count()
	r.mu.Unlock()
	sends.run()
	return nil
}

// Gone forgets a worker whose socket is gone. A stream offered to it goes
// to another worker at once; one it held waits ReassignAfter (the worker
// may still be connected to Zoom, and a second connection would kick it
// out), then goes to another worker, once.
func (r *RTMS) Gone(conn RTMSWorker) {
	r.mu.Lock()
	w, ok := r.workers[conn.WorkerID()]
	if !ok || w.conn != conn {
		r.mu.Unlock()
		return
	}
	delete(r.workers, conn.WorkerID())
	w.gone = true
	for id, st := range r.streams {
		switch {
		case st.offered == w:
			r.stopTimer(st)
			st.offered = nil
			st.tried[w] = true
			r.cfg.Observer.RTMSReassigned("offer_lost")
		case st.holder == w:
			st.holder, st.waiting, st.lostSub = nil, true, w.conn.Subject()
			st.view.State, st.view.AssignedAt, st.view.Worker, st.view.WorkerSub = RTMSPending, nil, "", ""
			st.tried[w] = true
			sid := id
			st.timer = time.AfterFunc(r.cfg.ReassignAfter, func() { r.waited(sid, st) })
		}
	}
	sends := r.pump()
	r.count()
	r.mu.Unlock()
	sends.run()
}

// waited ends a lost holder's wait: the stream goes to another worker.
func (r *RTMS) waited(streamID string, st *rtmsStream) {
	r.mu.Lock()
	if cur, ok := r.streams[streamID]; !ok || cur != st || !st.waiting {
		r.mu.Unlock()
		return
	}
	st.waiting, st.timer = false, nil
	st.pendingSince = r.cfg.Now()
	r.cfg.Observer.RTMSReassigned("worker_lost")
	sends := r.pump()
	r.count()
	r.mu.Unlock()
	sends.run()
}
