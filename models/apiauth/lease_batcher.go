package apiauth

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// leaseJob asks Redis for up to n units of a lease's budget.
type leaseJob struct {
	lease *lease
	n     int
	// urgent: a request waits for the answer. Otherwise the job asks
	// ahead and may wait up to leaseBatchWait for company.
	urgent bool
}

const (
	// leaseBatchWait is how long a lease asked for ahead waits for
	// others to share its round trip.
	leaseBatchWait = 10 * time.Millisecond
	// leaseBatchMax is the most leases asked for in one round trip
	// (Redis runs them as one command of roughly 2–15 µs per lease).
	leaseBatchMax = 128
)

var errLimiterClosed = errors.New("shared rate limiter closed")

// ask queues a lease job for the lease (locked by the caller). An urgent
// job waits for room in the queue; one asked ahead is dropped when the
// queue is full. It reports whether the job was queued.
func (s *SharedRateLimiter) ask(l *lease, now time.Time, urgent bool) bool {
	j := leaseJob{lease: l, n: l.size(now), urgent: urgent}
	if urgent {
		select {
		case s.jobs <- j:
		case <-s.closed:
			return false
		}
	} else {
		select {
		case s.jobs <- j:
		default:
			return false
		}
	}
	l.inFlight, l.asked = true, now
	return true
}

// hurry ends the current wait for company: a request now waits for a
// lease asked for ahead.
func (s *SharedRateLimiter) hurry() {
	select {
	case s.urgent <- struct{}{}:
	default:
	}
}

// batchLeases is the one goroutine that asks Redis for leases: every job
// queued meanwhile goes in one script call (one round trip), so a round
// trip's cost is shared by every key that needed a lease.
func (s *SharedRateLimiter) batchLeases() {
	defer close(s.batcherDone)
	batch := make([]leaseJob, 0, leaseBatchMax)
	timer := time.NewTimer(leaseBatchWait)
	timer.Stop()
	for {
		select {
		case j := <-s.jobs:
			batch = append(batch[:0], j)
		case <-s.closed:
			s.answerQueued()
			return
		}
		if !batch[0].urgent {
			timer.Reset(leaseBatchWait)
		wait:
			for len(batch) < leaseBatchMax {
				select {
				case j := <-s.jobs:
					batch = append(batch, j)
					if j.urgent {
						break wait
					}
				case <-s.urgent:
					break wait
				case <-timer.C:
					break wait
				case <-s.closed:
					break wait
				}
			}
			timer.Stop()
		}
	drain:
		for len(batch) < leaseBatchMax {
			select {
			case j := <-s.jobs:
				batch = append(batch, j)
			default:
				break drain
			}
		}
		s.grantLeases(batch)
	}
}

// grantLeases asks Redis for every job's lease in one command and hands
// each answer to its lease.
func (s *SharedRateLimiter) grantLeases(batch []leaseJob) {
	keys := make([]string, len(batch))
	args := make([]any, 0, 4*len(batch))
	for i, j := range batch {
		keys[i] = j.lease.redisKey
		args = gcraArgs(args, j.lease.perMinute, j.n)
	}
	reply, err := gcraLease.Run(context.Background(), s.client, keys, args...).Result()
	var grants []grant
	if err == nil {
		grants, err = parseGrants(reply, len(batch))
	}
	if err != nil {
		err = fmt.Errorf("leasing %d budgets from Redis: %w", len(batch), err)
		s.failed(err)
	} else {
		s.succeeded()
	}
	for i, j := range batch {
		g := grant{err: err}
		if err == nil {
			g = grants[i]
		}
		select {
		case j.lease.pending <- g:
		default:
		}
	}
}

// answerQueued answers the jobs still queued when the limiter closes, so
// that no request waits for them.
func (s *SharedRateLimiter) answerQueued() {
	for {
		select {
		case j := <-s.jobs:
			select {
			case j.lease.pending <- grant{err: errLimiterClosed}:
			default:
			}
		default:
			return
		}
	}
}
