package main

import (
	"testing"
	"time"
)

func TestSummarize(t *testing.T) {
	t.Parallel()
	ms := func(n ...int) []time.Duration {
		var out []time.Duration
		for _, v := range n {
			out = append(out, time.Duration(v)*time.Millisecond)
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		// Reversed so summarize must sort.
		hundred[i] = time.Duration(100-i) * time.Millisecond
	}
	tests := []struct {
		name    string
		samples []time.Duration
		want    summary
	}{
		{"empty", nil, summary{}},
		{"one", ms(7), summary{N: 1, Min: 7e6, P50: 7e6, P90: 7e6, P99: 7e6, Max: 7e6}},
		{"two", ms(2, 1), summary{N: 2, Min: 1e6, P50: 1e6, P90: 2e6, P99: 2e6, Max: 2e6}},
		{"hundred", hundred, summary{N: 100, Min: 1e6, P50: 50e6, P90: 90e6, P99: 99e6, Max: 100e6}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]time.Duration(nil), tt.samples...)
			got := summarize(tt.samples)
			if got != tt.want {
				t.Errorf("summarize(%v) = %+v, want %+v", tt.samples, got, tt.want)
			}
			for i := range in {
				if in[i] != tt.samples[i] {
					t.Fatalf("summarize modified its input")
				}
			}
		})
	}
}

func TestFmtDur(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in   time.Duration
		want string
	}{
		{0, "–"},
		{500 * time.Nanosecond, "500ns"},
		{1500 * time.Nanosecond, "1.50 µs"},
		{250 * time.Microsecond, "250 µs"},
		{1234 * time.Microsecond, "1.23 ms"},
		{12345 * time.Microsecond, "12.3 ms"},
		{2500 * time.Millisecond, "2.50 s"},
	}
	for _, tt := range tests {
		if got := fmtDur(tt.in); got != tt.want {
			t.Errorf("fmtDur(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseVmRSS(t *testing.T) {
	t.Parallel()
	status := "Name:\thangar\nVmPeak:\t 1000 kB\nVmRSS:\t   12345 kB\nThreads:\t9\n"
	got, err := parseVmRSS(status)
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(12345 * 1024); got != want {
		t.Errorf("parseVmRSS = %d, want %d", got, want)
	}
	if _, err := parseVmRSS("Name:\tx\n"); err == nil {
		t.Error("parseVmRSS without VmRSS: want error")
	}
}
