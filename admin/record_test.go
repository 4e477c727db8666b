package admin

import (
	"net/http"
	"testing"
)

// TestRecordWithoutRecorder: the record endpoints need a token and answer
// 501 when the API has no Recorder (the daemon's is tested in
// internal/daemon, TestDaemonRecords).
func TestRecordWithoutRecorder(t *testing.T) {
	env := startAdmin(t, nil)
	for _, tc := range []struct {
		name, method, path, token string
		code                      int
	}{
		{"no token", "POST", "/v1/routes/users/record/start", "", http.StatusUnauthorized},
		{"no recorder", "POST", "/v1/routes/users/record/start", adminToken, http.StatusNotImplemented},
		{"GET", "GET", "/v1/routes/users/record/stop", adminToken, http.StatusMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if code, _, _ := env.do(t, tc.method, tc.path, tc.token, ""); code != tc.code {
				t.Errorf("%s %s = %d, want %d", tc.method, tc.path, code, tc.code)
			}
		})
	}
}
