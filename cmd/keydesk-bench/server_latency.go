package main

import (
	"bufio"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// logOffset is the current size of a server's log, to read only what a
// later attack adds.
func logOffset(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return 0
	}
	return st.Size()
}

// serverTimes reads the request log lines of route written after offset
// and returns the server-side p50 and p99 of their duration_ms: the time
// the handler chain took inside the server, without the client's queueing.
func serverTimes(path string, offset int64, route string) (p50, p99 time.Duration, n int) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0, 0
	}
	defer f.Close()
	if _, err := f.Seek(offset, 0); err != nil {
		return 0, 0, 0
	}
	var ds []time.Duration
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, " route="+route+" ") {
			continue
		}
		i := strings.Index(line, " duration_ms=")
		if i < 0 {
			continue
		}
		v := line[i+len(" duration_ms="):]
		if j := strings.IndexByte(v, ' '); j >= 0 {
			v = v[:j]
		}
		msf, err := strconv.ParseFloat(v, 64)
		if err != nil {
			continue
		}
		ds = append(ds, time.Duration(msf*float64(time.Millisecond)))
	}
	if len(ds) == 0 {
		return 0, 0, 0
	}
	slices.Sort(ds)
	return ds[len(ds)/2], ds[min(len(ds)-1, len(ds)*99/100)], len(ds)
}
