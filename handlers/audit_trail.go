package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
	_ "time/tzdata" // the admin's time zone resolves even without system zoneinfo

	"github.com/labstack/echo/v4"

	"keydesk/handlers/htmx"
	"keydesk/models/audit"
	"keydesk/models/input"
	"keydesk/routes"
	"keydesk/views"
)

// auditFilterInput reads the audit trail filter from the query string. The
// tz parameter is the browser's IANA time zone (audit-time.js fills it in),
// in which a custom range's days begin and end.
func auditFilterInput(c echo.Context) (audit.FilterInput, string) {
	in := audit.FilterInput{
		Period: c.QueryParam("period"),
		From:   c.QueryParam("from"),
		To:     c.QueryParam("to"),
		Action: c.QueryParam("action"),
		Actor:  c.QueryParam("actor"),
		APIKey: c.QueryParam("key"),
		Search: c.QueryParam("q"),
	}
	tz := c.QueryParam("tz")
	if tz != "" && len(tz) <= 64 && tz != "Local" {
		if loc, err := time.LoadLocation(tz); err == nil {
			in.Location = loc
		} else {
			tz = ""
		}
	} else {
		tz = ""
	}
	return in, tz
}

// auditQuery is the query string that reproduces a filter.
func auditQuery(f audit.Filter, tz string) url.Values {
	q := url.Values{}
	set := func(k, v string) {
		if v != "" {
			q.Set(k, v)
		}
	}
	if f.Period != audit.PeriodCustom {
		set("period", f.Period)
	}
	set("from", f.From)
	set("to", f.To)
	set("action", f.Action)
	set("actor", f.Actor)
	set("key", f.APIKey)
	set("q", f.Search)
	if f.Period == audit.PeriodCustom {
		set("tz", tz)
	}
	return q
}

func auditURL(path string, q url.Values, extra ...string) string {
	q2 := url.Values{}
	for k, v := range q {
		q2[k] = v
	}
	for i := 0; i+1 < len(extra); i += 2 {
		q2.Set(extra[i], extra[i+1])
	}
	if len(q2) == 0 {
		return path
	}
	return path + "?" + q2.Encode()
}

// auditPageRequest reads the before/after cursor of a page link.
func auditPageRequest(c echo.Context) (audit.PageRequest, error) {
	req := audit.PageRequest{Limit: audit.PageSize}
	for name, dst := range map[string]**audit.Cursor{"before": &req.Before, "after": &req.After} {
		if s := c.QueryParam(name); s != "" {
			cur, err := audit.ParseCursor(s)
			if err != nil {
				return req, echo.NewHTTPError(http.StatusBadRequest, "This page link is not valid. Go back to the first page.")
			}
			*dst = &cur
		}
	}
	if req.Before != nil && req.After != nil {
		return req, echo.NewHTTPError(http.StatusBadRequest, "This page link is not valid. Go back to the first page.")
	}
	return req, nil
}

// auditTrailView gathers the page: the filter, one page of events and the
// links around it. Invalid filters are shown back with their errors.
func (h *Handler) auditTrailView(c echo.Context) (views.AuditTrailView, error) {
	programID := principalOf(c).Program.ID
	in, tz := auditFilterInput(c)
	f, err := in.Resolve(h.now())
	v := views.AuditTrailView{Filter: f, TimeZone: tz, ClearURL: routes.AuditTrail}
	var verr input.ValidationError
	switch {
	case errors.As(err, &verr):
		v.Errors = verr
	case err != nil:
		return v, err
	}
	if v.Actors, err = h.stores.Audit.Actors(c.Request().Context(), programID); err != nil {
		return v, err
	}
	if v.Keys, err = h.stores.Keys.List(c.Request().Context(), programID); err != nil {
		return v, err
	}
	q := auditQuery(f, tz)
	v.DownloadURL = auditURL(routes.AuditTrailDownload, q)
	v.DownloadJSONLURL = auditURL(routes.AuditTrailDownloadJSONL, q)
	if len(v.Errors) > 0 {
		return v, nil
	}
	req, err := auditPageRequest(c)
	if err != nil {
		return v, err
	}
	page, err := h.stores.Audit.List(c.Request().Context(), programID, f, req)
	if err != nil {
		return v, err
	}
	v.Events = page.Events
	v.Paged = page.Newer != nil
	if page.Older != nil {
		v.OlderURL = auditURL(routes.AuditTrail, q, "before", page.Older.String())
	}
	if page.Newer != nil {
		v.NewerURL = auditURL(routes.AuditTrail, q, "after", page.Newer.String())
	}
	return v, nil
}

// AuditTrail renders General » Audit Trail: the filtered events of the
// current program, newest first, a page at a time.
func (h *Handler) AuditTrail(c echo.Context) error {
	v, err := h.auditTrailView(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.AuditTrailPage(h.shell(c, "Audit Trail", views.NavAuditTrail), v))
}

// DownloadAuditTrail streams the filtered events as CSV. The download is
// audited before the first byte goes out.
func (h *Handler) DownloadAuditTrail(c echo.Context) error {
	return h.downloadAuditTrail(c, "text/csv; charset=utf-8", "csv",
		func(ctx context.Context, w io.Writer, p *Principal, f audit.Filter) (int64, error) {
			return h.stores.Audit.DownloadCSV(ctx, w, p.Program.ID, actor(c), f)
		})
}

// DownloadAuditTrailJSONL streams the filtered events as JSON Lines in
// chain order, each line with its chain fields (for a SIEM). Audited like
// the CSV download.
func (h *Handler) DownloadAuditTrailJSONL(c echo.Context) error {
	return h.downloadAuditTrail(c, "application/x-ndjson; charset=utf-8", "jsonl",
		func(ctx context.Context, w io.Writer, p *Principal, f audit.Filter) (int64, error) {
			return h.stores.Audit.DownloadJSONL(ctx, w, p.Program.ID, p.Program.PartnerID, actor(c), f)
		})
}

func (h *Handler) downloadAuditTrail(c echo.Context, contentType, ext string,
	write func(ctx context.Context, w io.Writer, p *Principal, f audit.Filter) (int64, error)) error {
	p := principalOf(c)
	in, _ := auditFilterInput(c)
	f, err := in.Resolve(h.now())
	var verr input.ValidationError
	if errors.As(err, &verr) {
		return echo.NewHTTPError(http.StatusBadRequest, "The filters are not valid: "+verr.Error())
	} else if err != nil {
		return err
	}
	header := c.Response().Header()
	header.Set(echo.HeaderContentType, contentType)
	filename := fmt.Sprintf("audit-trail-%s-%s.%s", p.Program.PartnerID, h.now().Format("2006-01-02"), ext)
	header.Set(echo.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	rows, err := write(c.Request().Context(), auditFlushWriter{c.Response()}, p, f)
	if err != nil {
		if c.Response().Committed {
			// Too late for an error page: the client sees a truncated file.
			h.logger.Error("audit trail download interrupted", "error", err.Error(), "rows", rows,
				"format", ext, "request_id", header.Get(echo.HeaderXRequestID))
			return nil
		}
		header.Del(echo.HeaderContentDisposition)
		header.Del(echo.HeaderContentType)
		return err
	}
	return nil
}

// auditFlushWriter writes through Echo's response (which records the status)
// and pushes each batch to the client when the connection can flush; unlike
// echo.Response.Flush it never panics behind a writer that cannot.
type auditFlushWriter struct{ r *echo.Response }

func (w auditFlushWriter) Write(p []byte) (int, error) { return w.r.Write(p) }

func (w auditFlushWriter) Flush() { _ = http.NewResponseController(w.r.Writer).Flush() }

// VerifyAuditTrail checks the current program's chain and shows the result:
// the result box for htmx, the page around it otherwise.
func (h *Handler) VerifyAuditTrail(c echo.Context) error {
	result, err := h.stores.Audit.VerifyTrail(c.Request().Context(), principalOf(c).Program.ID, actor(c))
	if err != nil {
		return err
	}
	if htmx.IsFragment(c) {
		return render(c, http.StatusOK, views.AuditVerifyResult(result))
	}
	v, err := h.auditTrailView(c)
	if err != nil {
		return err
	}
	v.Verification = &result
	return render(c, http.StatusOK, views.AuditTrailPage(h.shell(c, "Audit Trail", views.NavAuditTrail), v))
}
