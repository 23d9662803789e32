package htmx_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
)

func TestTriggerEscapesNonASCII(t *testing.T) {
	rec := httptest.NewRecorder()
	c := echo.New().NewContext(httptest.NewRequest(http.MethodPost, "/", nil), rec)
	htmx.Trigger(c, map[string]any{"toast": "“a” 🔑"})
	if got, want := rec.Header().Get("HX-Trigger"), `{"toast":"\u201ca\u201d \ud83d\udd11"}`; got != want {
		t.Fatalf("HX-Trigger = %s, want %s", got, want)
	}
}

func TestIsFragment(t *testing.T) {
	for _, tc := range []struct {
		request, boosted string
		want             bool
	}{{"true", "", true}, {"true", "true", false}, {"", "", false}} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("HX-Request", tc.request)
		req.Header.Set("HX-Boosted", tc.boosted)
		if got := htmx.IsFragment(echo.New().NewContext(req, httptest.NewRecorder())); got != tc.want {
			t.Errorf("HX-Request %q, HX-Boosted %q: IsFragment = %v, want %v", tc.request, tc.boosted, got, tc.want)
		}
	}
}
