package httpapi

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestOpenAPIMatchesRoutes fails when routes.go and the documented operations drift apart.
func TestOpenAPIMatchesRoutes(t *testing.T) {
	s := New(Config{APIKey: "k"})
	missing, stale := s.undocumented()
	if len(missing) > 0 {
		t.Errorf("routes without an entry in operations: %v", missing)
	}
	if len(stale) > 0 {
		t.Errorf("operations without a route: %v", stale)
	}

	req := httptest.NewRequest("GET", "/v1/openapi.json", nil)
	req.Header.Set("x-api-key", "k")
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK {
		t.Fatalf("status = %d", rec.Code)
	}
	var doc struct {
		Paths map[string]map[string]struct {
			OperationID string `json:"operationId"`
		} `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for path, ops := range doc.Paths {
		for method, op := range ops {
			n++
			if op.OperationID == "" {
				t.Errorf("%s %s has no operationId", method, path)
			}
		}
	}
	if want := len(operations); n != want {
		t.Errorf("document has %d operations, want %d", n, want)
	}
}
