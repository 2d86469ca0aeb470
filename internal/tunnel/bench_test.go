package tunnel

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"testing"
)

// BenchmarkTunnelStream measures one HTTPS request over a new tunnel stream: taking a
// parked connection, the DIAL handshake, the connector's dial to the gateway, TLS verified
// against the tunnel's CA, and the request itself.
func BenchmarkTunnelStream(b *testing.B) {
	f := newFixture(b, true)
	f.connect(b, f.token, 8)
	for b.Loop() {
		if _, err := f.get(b); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDirectStream is the baseline: the same request on a new direct TCP connection.
func BenchmarkDirectStream(b *testing.B) {
	f := newFixture(b, true)
	pool, err := f.hub.RootCAs(b.Context(), f.host)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		conn, err := net.Dial("tcp", f.gateway.Listener.Addr().String())
		if err != nil {
			b.Fatal(err)
		}
		tc := tls.Client(conn, &tls.Config{ServerName: f.host, RootCAs: pool})
		req, _ := http.NewRequest("GET", "https://"+f.host+"/mcp", nil)
		if err := req.Write(tc); err != nil {
			b.Fatal(err)
		}
		resp, err := http.ReadResponse(bufio.NewReader(tc), req)
		if err != nil {
			b.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		tc.Close()
	}
}
