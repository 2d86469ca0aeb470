package main

import (
	"math"
	"slices"
	"strconv"
	"time"
)

// summary describes a set of latency samples (durations in JSON are nanoseconds).
type summary struct {
	N   int           `json:"n"`
	Min time.Duration `json:"min_ns"`
	P50 time.Duration `json:"p50_ns"`
	P90 time.Duration `json:"p90_ns"`
	P99 time.Duration `json:"p99_ns"`
	Max time.Duration `json:"max_ns"`
}

// summarize sorts a copy of samples and returns nearest-rank percentiles. The zero summary
// is returned for no samples.
func summarize(samples []time.Duration) summary {
	if len(samples) == 0 {
		return summary{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return summary{
		N:   len(s),
		Min: s[0],
		P50: percentile(s, 50),
		P90: percentile(s, 90),
		P99: percentile(s, 99),
		Max: s[len(s)-1],
	}
}

// percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of sorted, which must
// not be empty: the smallest sample such that at least p% of samples are ≤ it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	rank := int(math.Ceil(p / 100 * float64(len(sorted))))
	rank = max(1, min(rank, len(sorted)))
	return sorted[rank-1]
}

// fmtDur prints a latency with three significant digits in the unit that suits it.
func fmtDur(d time.Duration) string {
	switch {
	case d <= 0:
		return "–"
	case d < time.Microsecond:
		return d.String()
	case d < time.Millisecond:
		return trimFloat(float64(d)/float64(time.Microsecond)) + " µs"
	case d < time.Second:
		return trimFloat(float64(d)/float64(time.Millisecond)) + " ms"
	default:
		return trimFloat(d.Seconds()) + " s"
	}
}

// trimFloat formats f with three significant digits for values below 1000.
func trimFloat(f float64) string {
	switch {
	case f >= 100:
		return strconv.FormatFloat(f, 'f', 0, 64)
	case f >= 10:
		return strconv.FormatFloat(f, 'f', 1, 64)
	default:
		return strconv.FormatFloat(f, 'f', 2, 64)
	}
}
