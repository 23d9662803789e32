package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the kernel's USER_HZ, the unit of /proc CPU times (100 on
// every Linux architecture Go supports).
const clockTick = 10 * time.Millisecond

// cpuSample is a snapshot of CPU time used by the server, by this process
// (the load generator) and by the whole machine.
type cpuSample struct {
	server, self     time.Duration
	busy, total      time.Duration // all CPUs, from /proc/stat
	at               time.Time
	serverOK, selfOK bool
}

func takeCPUSample(serverPID int) cpuSample {
	s := cpuSample{at: time.Now()}
	if d, err := procCPU(strconv.Itoa(serverPID)); err == nil {
		s.server, s.serverOK = d, true
	}
	if d, err := procCPU("self"); err == nil {
		s.self, s.selfOK = d, true
	}
	s.busy, s.total, _ = machineCPU()
	return s
}

// procCPU is utime + stime of a process (children excluded).
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name may contain spaces: fields start after its ')'.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// f[0] is field 3 (state); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("unexpected /proc/%s/stat", pid)
	}
	return time.Duration(ut+st) * clockTick, nil
}

// machineCPU sums the "cpu" line of /proc/stat: busy and total time.
func machineCPU() (busy, total time.Duration, err error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 5 || f[0] != "cpu" {
		return 0, 0, fmt.Errorf("unexpected /proc/stat")
	}
	var sum, idle int64
	for i, v := range f[1:] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, 0, err
		}
		if i >= 8 { // guest times are already counted in user and nice
			break
		}
		sum += n
		if i == 3 || i == 4 { // idle, iowait
			idle += n
		}
	}
	return time.Duration(sum-idle) * clockTick, time.Duration(sum) * clockTick, nil
}

// cpuUse describes CPU use between two samples for n requests.
type cpuUse struct {
	serverPerReq, selfPerReq time.Duration
	othersShare              float64 // share of the machine's CPU used by other processes
}

func cpuBetween(a, b cpuSample, requests uint64) cpuUse {
	var u cpuUse
	if requests == 0 {
		return u
	}
	server, self := b.server-a.server, b.self-a.self
	u.serverPerReq = server / time.Duration(requests)
	u.selfPerReq = self / time.Duration(requests)
	if total := b.total - a.total; total > 0 {
		others := (b.busy - a.busy) - server - self
		u.othersShare = max(0, float64(others)/float64(total))
	}
	return u
}

func (u cpuUse) String() string {
	return fmt.Sprintf("server %s CPU/request, load generator %s CPU/request, other processes %.0f%% of the machine",
		us(u.serverPerReq), us(u.selfPerReq), 100*u.othersShare)
}

func us(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// loadAverage is /proc/loadavg's first three fields.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
